/**
 * Sliding-window counters: the storage that rate rules (SPEC §5) and login throttling need (the
 * blocks that rules set live in rules/block-store.ts). A window is exact (a log of hit times, not
 * two weighted buckets), so `max` requests at the end of one window and `max` at the start of the
 * next cannot both pass.
 *
 * Every verb is atomic for its key: two concurrent `take`s at `max - 1` let exactly one through
 * (rate-limiter-flexible's rule: increment-with-expiry in one step, never get-then-set).
 * Times are milliseconds since the epoch and always passed in (the clock is injected).
 */
export interface CounterStore {
  /**
   * Counts the hits of `key` after `now - windowMs` (hits stamped later than `now` count too: a
   * worker whose clock read came first may commit second). When there are fewer than
   * `max`, records a hit at `now` and allows it. When refused, nothing is recorded, so a client
   * that slows down regains access as the window slides.
   */
  take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult>;
  /** Records a hit unconditionally; returns the hits in the window, this one included. */
  add(key: string, now: number, windowMs: number): Promise<number>;
  /** The hits in the window, and the times of the oldest and newest of them. */
  count(key: string, now: number, windowMs: number): Promise<WindowCount>;
  /** Forgets every hit of the key. */
  reset(key: string): Promise<void>;
  /** Deletes hits older than `now - maxWindowMs` (housekeeping). */
  purge(now: number, maxWindowMs: number): Promise<void>;
}

export interface TakeResult {
  allowed: boolean;
  /** Hits in the window after this call; an adapter may stop counting at `max` when refusing. */
  count: number;
  /** When refused: when the oldest counted hit leaves the window, freeing a slot. Else null. */
  retryAt: number | null;
}

export interface WindowCount {
  count: number;
  oldest: number | null;
  newest: number | null;
}
