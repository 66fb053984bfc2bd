import { setImmediate as nextTurn } from 'node:timers/promises';
import { BucketWindow, checkMax, checkWindow, windowFor } from './bucket-window.js';
import { runChecks, validateChecks, type CheckVerbs } from './counter-checks.js';
import type { CheckResult, CounterCheck, CounterStore, TakeResult, WindowCount } from './counter-store.js';

/** Keys a sweep examines per slice: well under a millisecond, so housekeeping never stalls a request. */
const sweepSlice = 1_000;
/** Busy keys the eviction hand may spare before it evicts regardless (bounds one call's work). */
const evictionScan = 64;

export interface MemoryCounterStoreOptions {
  /**
   * Most keys held at once, counts and blocks together (default 100,000). A new key past the cap
   * evicts one not used since the eviction hand last passed it, so an attacker spraying fresh keys
   * (addresses, user names) pushes out idle keys, not the busy ones being limited.
   */
  maxKeys?: number;
  /**
   * How often, in the callers' time, the store drops keys whose window is empty and ended blocks
   * by itself (default 60,000 ms), so memory is returned even when nobody calls `purge`. A sweep
   * visits every key (15-45 ms for 100,000), so it runs in slices of 1,000 keys on successive calls.
   */
  sweepEveryMs?: number;
}

/** One pass over the keys, forgetting windows that have emptied and blocks ended at `now`. */
interface Sweep {
  readonly entries: Iterator<[string, KeyState]>;
  readonly now: number;
}

/** Counts and block of one key. */
class KeyState {
  /** Null when the key is only blocked, or its counts were reset or have all left the window. */
  window: BucketWindow | null = null;
  /** -Infinity when the key is not blocked. */
  blockedUntil = Number.NEGATIVE_INFINITY;
  /** Touched since the eviction hand last passed: CLOCK, an LRU approximation costing one write per call. */
  used = false;
}

/** Whether nothing the key holds still matters at `now`: no count in its window, no running block. */
function isDead(state: KeyState, now: number): boolean {
  return (state.window === null || state.window.expiresAt <= now) && state.blockedUntil <= now;
}

/**
 * CounterStore in process memory, for one node: every call does its work synchronously before its
 * promise resolves, so two calls never interleave and each verb is atomic without a lock. The port
 * is async only so that a networked store (Redis) can implement it later. Each instance owns its
 * state; two instances in one process share nothing.
 *
 * Memory is bounded: at most `maxKeys` keys, each with at most 61 bucket counts
 * (rules/bucket-window.ts), whatever its `max` and its traffic. Measured on Node 20 (heap and the
 * array per key, docs/decisions/0002-rate-window.md): ~0.5 KB for a key with hits in one bucket,
 * ~1.5 KB for one with hits in all 61, so 100,000 keys take 50-150 MB at worst. Evicting a key
 * forgets its counts and block, which lets that client start afresh: the price of a bound, paid by
 * idle keys first.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #keys = new Map<string, KeyState>();
  readonly #maxKeys: number;
  readonly #sweepEveryMs: number;
  /** The latest time any caller passed in: the store's own "now" for housekeeping. */
  #now = Number.NEGATIVE_INFINITY;
  #nextSweepAt = Number.NEGATIVE_INFINITY;
  /** The lazy sweep under way, advanced one slice per call until its lap ends. */
  #sweep: Sweep | null = null;

  constructor(options: MemoryCounterStoreOptions = {}) {
    this.#maxKeys = positiveInteger('maxKeys', options.maxKeys ?? 100_000);
    this.#sweepEveryMs = positiveInteger('sweepEveryMs', options.sweepEveryMs ?? 60_000);
  }

  /** How many keys are held (for metrics and tests). */
  get size(): number {
    return this.#keys.size;
  }

  /** Bytes the key's bucket counts take, 0 when it holds none (for tests and metrics). */
  countBytes(key: string): number {
    return this.#keys.get(key)?.window?.bytes ?? 0;
  }

  async take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult> {
    checkWindow(windowMs);
    checkMax(max);
    this.#observe(now);
    return this.#take(key, now, windowMs, max);
  }

  async add(key: string, now: number, windowMs: number): Promise<number> {
    checkWindow(windowMs);
    this.#observe(now);
    return this.#add(key, now, windowMs);
  }

  async count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount> {
    checkWindow(windowMs);
    checkMax(max);
    this.#observe(now);
    return this.#count(key, now, windowMs, max);
  }

  /** Synchronous, so the batch is atomic as each verb is. */
  async evaluate(checks: readonly CounterCheck[], now: number): Promise<CheckResult[]> {
    validateChecks(checks);
    this.#observe(now);
    return runChecks(checks, now, this.#verbs);
  }

  /** The verbs `runChecks` calls, made once (a proxied request with rules evaluates once). */
  readonly #verbs: CheckVerbs = {
    take: (key, at, windowMs, max) => this.#take(key, at, windowMs, max),
    add: (key, at, windowMs) => this.#add(key, at, windowMs),
    count: (key, at, windowMs, max) => this.#count(key, at, windowMs, max),
  };

  async reset(key: string): Promise<void> {
    const state = this.#keys.get(key);
    if (!state) return;
    if (state.blockedUntil === Number.NEGATIVE_INFINITY) this.#keys.delete(key);
    else state.window = null;
  }

  async block(key: string, until: number): Promise<void> {
    const state = this.#entry(key);
    if (until > state.blockedUntil) state.blockedUntil = until;
  }

  async blockedUntil(key: string, now: number): Promise<number | null> {
    this.#observe(now);
    const state = this.#keys.get(key);
    if (!state || state.blockedUntil <= now) return null;
    state.used = true;
    return state.blockedUntil;
  }

  /** Sweeps every key, yielding to the event loop between slices (each key is still atomic). */
  async purge(now: number): Promise<void> {
    const sweep = this.#startSweep(now);
    while (!this.#sweepSlice(sweep)) await nextTurn();
  }

  #take(key: string, now: number, windowMs: number, max: number): TakeResult {
    const state = this.#entry(key);
    const window = windowFor(state.window, windowMs, now);
    const count = window.countAt(now);
    if (count >= max) return { allowed: false, count, retryAt: window.retryAt(max, now) };
    window.advance(now);
    window.record();
    state.window = window;
    return { allowed: true, count: window.total, retryAt: null };
  }

  #add(key: string, now: number, windowMs: number): number {
    const state = this.#entry(key);
    const window = windowFor(state.window, windowMs, now);
    window.advance(now);
    window.record();
    state.window = window;
    return window.total;
  }

  #count(key: string, now: number, windowMs: number, max: number): WindowCount {
    const state = this.#keys.get(key);
    if (!state?.window) return { count: 0, retryAt: null };
    state.used = true;
    const window = windowFor(state.window, windowMs, now);
    return { count: window.countAt(now), retryAt: window.retryAt(max, now) };
  }

  /** Notes the caller's time, and advances the lazy sweep, starting one when due. */
  #observe(now: number): void {
    if (now > this.#now) this.#now = now;
    if (this.#sweep === null && now >= this.#nextSweepAt) {
      this.#nextSweepAt = now + this.#sweepEveryMs;
      this.#sweep = this.#startSweep(now);
    }
    if (this.#sweep !== null && this.#sweepSlice(this.#sweep)) this.#sweep = null;
  }

  #startSweep(now: number): Sweep {
    return { entries: this.#keys.entries(), now };
  }

  /**
   * Examines the next `sweepSlice` keys of the sweep; true when its lap is done. A Map iterator is
   * live: keys deleted meanwhile are skipped, keys added are visited, so a lap across many calls
   * is sound. It ends, since a call adds at most one key (plus amortised-O(1) eviction moves).
   */
  #sweepSlice(sweep: Sweep): boolean {
    for (let i = 0; i < sweepSlice; i += 1) {
      const next = sweep.entries.next();
      if (next.done === true) return true;
      const [key, state] = next.value;
      if (state.window !== null && state.window.expiresAt <= sweep.now) state.window = null;
      if (state.blockedUntil <= sweep.now) state.blockedUntil = Number.NEGATIVE_INFINITY;
      if (state.window === null && state.blockedUntil === Number.NEGATIVE_INFINITY) this.#keys.delete(key);
    }
    return false;
  }

  #entry(key: string): KeyState {
    let state = this.#keys.get(key);
    if (state) {
      state.used = true;
      return state;
    }
    if (this.#keys.size >= this.#maxKeys) this.#evictOne();
    state = new KeyState();
    this.#keys.set(key, state);
    return state;
  }

  /**
   * CLOCK eviction over the Map's insertion order: a key that is dead (nothing left in its window,
   * no running block) or unused since the hand last passed goes; a used key loses its mark and
   * moves to the back. The hand spares at most `evictionScan` keys, then evicts the next one
   * whatever its mark: a full lap over 100,000 busy keys would stall one call for ~100 ms.
   */
  #evictOne(): void {
    let spared = 0;
    for (const [key, state] of this.#keys) {
      if (spared === evictionScan || !state.used || isDead(state, this.#now)) {
        this.#keys.delete(key);
        return;
      }
      state.used = false;
      this.#keys.delete(key);
      this.#keys.set(key, state);
      spared += 1;
    }
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`MemoryCounterStore: ${name} must be a whole number of at least 1, not ${value}`);
  return value;
}
