import type { CheckResult, CounterCheck, CounterStore, TakeResult, WindowCount } from './counter-store.js';
import { MemoryCounterStore } from './memory-counter-store.js';

export interface FallbackCounterStoreOptions {
  /** The store every node shares (Redis): used whenever it answers. */
  shared: CounterStore;
  /** Where this node counts alone while the shared store fails (default: a new MemoryCounterStore). */
  local?: CounterStore;
  /**
   * After a failure, how long (in the callers' time) calls are answered locally without trying
   * the shared store; then one call tries it again (default 1,000 ms).
   */
  retryEveryMs?: number;
  /** Told when the store starts answering locally (with the error that caused it) and when it stops. */
  onChange?: (change: { degraded: boolean; error?: unknown }) => void;
}

/**
 * SPEC §8, "Redis down or hung: rate rules are counted per node": a CounterStore that answers from
 * the shared store, and, when a call to it fails (its client's timeout, a lost connection, an
 * error reply), answers that same call from a store of this node's own, and goes on answering
 * locally, trying the shared store again with one call every `retryEveryMs`, until it answers.
 * `degraded` (and `onChange`) say which is in use, for `/readyz`.
 *
 * No call waits longer than the shared store takes to fail: the client's timeout (decision 0003),
 * paid by the call that meets the failure and by one retry per `retryEveryMs`, not by every call.
 * Validation errors (RangeError) are the caller's mistakes, thrown as they are.
 *
 * Weak by design, and accepted by the SPEC's table: while degraded each node lets up to `max`
 * through on its own, so N nodes up to N × max in a window. Counts made locally never reach the
 * shared store, so right after recovery a client may get up to `max` more there; and a call that
 * timed out may still have been counted by Redis once it woke (the client stops waiting, the
 * server may run it), so an outage errs towards refusing. Holds (the login back-off) are also
 * written locally, and read from both, so a node keeps the holds it set across an outage and after.
 */
export class FallbackCounterStore implements CounterStore {
  readonly #shared: CounterStore;
  readonly #local: CounterStore;
  readonly #retryEveryMs: number;
  readonly #onChange: (change: { degraded: boolean; error?: unknown }) => void;
  #degraded = false;
  /** When degraded: the callers' time from which one call may try the shared store again. */
  #retryAt = Number.NEGATIVE_INFINITY;
  /** A retry is under way: other calls stay local meanwhile. */
  #retrying = false;
  /** The time the last caller passed, for the verbs that pass none (reset, block). */
  #lastNow = Number.NEGATIVE_INFINITY;

  constructor(options: FallbackCounterStoreOptions) {
    this.#shared = options.shared;
    this.#local = options.local ?? new MemoryCounterStore();
    this.#retryEveryMs = options.retryEveryMs ?? 1_000;
    this.#onChange = options.onChange ?? (() => {});
  }

  /** Whether calls are being answered by this node alone. */
  get degraded(): boolean {
    return this.#degraded;
  }

  take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult> {
    return this.#call(now, (store) => store.take(key, now, windowMs, max));
  }

  add(key: string, now: number, windowMs: number): Promise<number> {
    return this.#call(now, (store) => store.add(key, now, windowMs));
  }

  count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount> {
    return this.#call(now, (store) => store.count(key, now, windowMs, max));
  }

  /** The whole batch on one store: on the local one when the shared one fails, as a single call would. */
  evaluate(checks: readonly CounterCheck[], now: number): Promise<CheckResult[]> {
    return this.#call(now, (store) => store.evaluate(checks, now));
  }

  async reset(key: string): Promise<void> {
    await this.#local.reset(key);
    await this.#call(this.#lastNow, (store) => store.reset(key));
  }

  async block(key: string, until: number): Promise<void> {
    await this.#local.block(key, until);
    await this.#call(this.#lastNow, (store) => store.block(key, until));
  }

  async blockedUntil(key: string, now: number): Promise<number | null> {
    const local = await this.#local.blockedUntil(key, now);
    const shared = await this.#call(now, (store) => store.blockedUntil(key, now));
    return local === null || (shared !== null && shared > local) ? shared : local;
  }

  async purge(now: number): Promise<void> {
    await this.#local.purge(now);
    await this.#call(now, (store) => store.purge(now));
  }

  /** Runs `work` on the shared store when it is in use (or due a retry), else, or when it fails, on the local one. */
  async #call<T>(now: number, work: (store: CounterStore) => Promise<T>): Promise<T> {
    this.#lastNow = now;
    const retry = this.#degraded;
    if (retry) {
      // Waiting for the retry time; a clock stepped back by more than the wait retries at once.
      const waiting = now < this.#retryAt && now >= this.#retryAt - this.#retryEveryMs;
      if (this.#retrying || waiting) return work(this.#local);
      this.#retrying = true;
    }
    try {
      const result = await work(this.#shared);
      if (retry) this.#recovered();
      return result;
    } catch (error) {
      if (error instanceof RangeError) throw error;
      this.#failed(error, now);
      return work(this.#local);
    } finally {
      if (retry) this.#retrying = false;
    }
  }

  #failed(error: unknown, now: number): void {
    this.#retryAt = now + this.#retryEveryMs;
    if (this.#degraded) return;
    this.#degraded = true;
    this.#onChange({ degraded: true, error });
  }

  #recovered(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#onChange({ degraded: false });
  }
}
