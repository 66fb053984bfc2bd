/**
 * Sliding-window counters and timed holds: the storage that rate rules (SPEC §5) and login
 * throttling need (the holds are the login back-off's; the blocks rules set live in
 * rules/block-store.ts, where the CLI can list and lift them). A window is counted in buckets of
 * 1/60 of it (rules/bucket-window.ts): a key's memory is the same whatever its `max` and its
 * traffic, `max` requests at the end of one window and `max` at the start of the next cannot both
 * pass, and no window of `windowMs` ever holds more than `max` allowed takes. The price: a hit is forgotten up to one bucket (windowMs / 60) later
 * than an exact window would forget it, so a client may be refused that much early.
 *
 * Every verb is atomic for its key: two concurrent `take`s at `max - 1` let exactly one through
 * (rate-limiter-flexible's rule: increment-with-expiry in one step, never get-then-set).
 * Times are milliseconds since the epoch and always passed in (the clock is injected). A key is
 * meant to be used with one window (whole milliseconds); when it changes (a rule's `per` was
 * edited), the hits it holds are kept as if they had all come at the newest of them.
 */
export interface CounterStore {
  /**
   * Counts the hits of `key` in the window at `now` (hits stamped later than `now` count too: a
   * worker whose clock read came first may commit second). When there are fewer than
   * `max`, records a hit at `now` and allows it. When refused, nothing is recorded, so a client
   * that slows down regains access as the window slides.
   */
  take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult>;
  /** Records a hit unconditionally; returns the hits in the window, this one included. */
  add(key: string, now: number, windowMs: number): Promise<number>;
  /** The hits in the window, and (at `max` or more) when a `take` with that `max` would pass. Records nothing. */
  count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount>;
  /**
   * The counter work of every rate rule matching one request, in one step (SPEC §8 "Speed": the
   * rules of a request make at most one round trip to the shared store together). Runs `checks` in
   * order, each exactly as its own verb would (`take`, `add`, `count`), and stops after the first
   * that refuses: a `take` not allowed (then its `marker`, if any, is taken with max 1 in the same
   * window), or a `count` whose `retryAt` is not null. Returns one result per check run, so a
   * result shorter than `checks` ends with the refusal. The whole batch is atomic on every adapter
   * (one script, one transaction, or synchronous); nothing is run when a check is invalid.
   */
  evaluate(checks: readonly CounterCheck[], now: number): Promise<CheckResult[]>;
  /** Forgets every hit of the key. */
  reset(key: string): Promise<void>;
  /** Holds the key until `until` (the login back-off); of two holds the later end wins. */
  block(key: string, until: number): Promise<void>;
  /** When the key's block ends, or null when it is not blocked at `now`. */
  blockedUntil(key: string, now: number): Promise<number | null>;
  /** Deletes the keys whose every hit has left their window, and blocks that have ended (housekeeping). */
  purge(now: number): Promise<void>;
}

export interface TakeResult {
  allowed: boolean;
  /** Hits in the window after this call. */
  count: number;
  /**
   * When refused: the first moment a take with the same `max` would pass if nothing else is
   * counted (the bucket holding the oldest hit that must go has left the window). Else null.
   */
  retryAt: number | null;
}

export interface WindowCount {
  count: number;
  /** When `count` is at least the `max` asked about: when it falls below it if nothing else is counted. Else null. */
  retryAt: number | null;
}

/** One step of `CounterStore.evaluate`. */
export type CounterCheck =
  | {
      verb: 'take';
      key: string;
      windowMs: number;
      max: number;
      /** When the take is refused, this key is taken with max 1 (a rule's "first refusal in this window" marker). */
      marker?: string;
    }
  | { verb: 'add'; key: string; windowMs: number }
  | { verb: 'count'; key: string; windowMs: number; max: number };

/** What one check of `evaluate` answered. */
export interface CheckResult {
  /** False for a refused `take` and for a `count` at `max` or more; an `add` always passes. */
  allowed: boolean;
  /** Hits in the window after the check. */
  count: number;
  /** As `TakeResult.retryAt` / `WindowCount.retryAt`; null for an `add`. */
  retryAt: number | null;
  /** A refused `take` with a marker: whether the marker's take was allowed (the first refusal). Else false. */
  first: boolean;
}

