import type { Clock } from '../security/clock.js';
import type { RandomBytes } from '../security/random.js';
import { checkFailure, maxLeaseTtlMs, type LeaseStore } from './lease-store.js';

/** What one key's work is: read by every caller, done by one (decision 0011). */
export interface SingleFlightTask<T> {
  /**
   * The caller's read of the store: a result newer than the one it came with (another caller's
   * work already done), or null. Called before taking the lease, again once it is taken, and by
   * the waiters at every poll.
   */
  fresh(): Promise<T | null>;
  /**
   * The work, done once: it must store its result where `fresh` reads it before it resolves. `signal`
   * aborts shortly before the lease's TTL (pass it to fetch): past the TTL another holder may start,
   * so a holder that is still working would no longer be the only one.
   */
  work(signal: AbortSignal): Promise<T>;
}

export interface SingleFlightOptions {
  leases: LeaseStore;
  clock: Clock;
  random: RandomBytes;
  /** How long a holder may take before others may take over; longer than the work's own timeout. */
  ttlMs: number;
  /** How often a waiter reads the store (default 25 ms). */
  pollMs?: number;
  /** How long a failure is shown to waiters and newcomers before someone may try again (default 1 s). */
  failureHoldMs?: number;
  /**
   * The stable code of a failed work that every waiter must share, or null for one after which the
   * next caller may safely try at once (nothing was consumed). Default: the error's `code` when it
   * is a short code, else `work_failed`, so by default nothing is retried behind the holder's back.
   */
  failureCode?: (error: unknown) => string | null;
  /** The error a waiter rejects with when the holder failed with `code` (default: SharedFailureError). */
  failureError?: (code: string) => Error;
  sleep?: (ms: number) => Promise<void>;
}

/** The holder (possibly in another process or node) failed with `code`; this caller shares its outcome. */
export class SharedFailureError extends Error {
  readonly code: string;

  constructor(code: string) {
    super(`the shared attempt failed (${code})`);
    this.name = 'SharedFailureError';
    this.code = code;
  }
}

/**
 * A holder's lease outlived its TTL by the margin on this process's clock without expiring in the
 * store: the nodes' clocks disagree. Refused rather than taken over, since taking over could do the
 * work twice.
 */
export class SingleFlightTimeoutError extends Error {
  readonly code = 'single_flight_timeout';

  constructor() {
    super('gave up waiting for the shared attempt');
    this.name = 'SingleFlightTimeoutError';
  }
}

const defaultPollMs = 25;
const defaultFailureHoldMs = 1_000;
/** Past a holder's TTL, how long a waiter still gives the store to say the lease expired. */
const waitMarginMs = 1_000;

function defaultFailureCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : 'work_failed';
}

/**
 * The in-process half of single flight: callers of one key share the promise of the first, until
 * it settles. Alone, for work that may safely run once per process (SingleFlight adds the lease
 * for work that must run once across processes).
 */
export class InProcessFlights {
  readonly #running = new Map<string, Promise<unknown>>();

  run<T>(key: string, start: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key);
    if (running) return running as Promise<T>;
    const attempt = start().finally(() => {
      if (this.#running.get(key) === attempt) this.#running.delete(key);
    });
    this.#running.set(key, attempt);
    return attempt;
  }

  get size(): number {
    return this.#running.size;
  }
}

type Waited<T> = { done: true; value: T } | { done: false };

/**
 * Runs the work of a key once at a time, in this process (callers share one promise) and across
 * processes and nodes (a lease in the store, cluster/lease-store.ts). Built for refreshing a
 * session's tokens (SPEC §9): with rotating refresh tokens a second refresh with the old token fails
 * (RFC 9700 §4.14.2) and would end the session, so exactly one may reach the provider. Store errors
 * reject with StoreUnavailableError (the adapters raise it); the caller maps it to 503.
 */
export class SingleFlight {
  readonly #leases: LeaseStore;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #ttlMs: number;
  readonly #pollMs: number;
  readonly #failureHoldMs: number;
  readonly #failureCode: (error: unknown) => string | null;
  readonly #failureError: (code: string) => Error;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Per instance, never module-level: two gateways in one process must not share attempts. */
  readonly #inFlight = new InProcessFlights();

  constructor(options: SingleFlightOptions) {
    this.#pollMs = options.pollMs ?? defaultPollMs;
    this.#failureHoldMs = options.failureHoldMs ?? defaultFailureHoldMs;
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs < 1 || options.ttlMs > maxLeaseTtlMs) throw new RangeError(`ttlMs is 1 to ${maxLeaseTtlMs} ms`);
    if (!(this.#pollMs > 0)) throw new RangeError('pollMs is positive');
    // A waiter must get at least a few polls in while the failure is shown, or it would miss it and try again itself.
    if (!Number.isSafeInteger(this.#failureHoldMs) || this.#failureHoldMs < 4 * this.#pollMs || this.#failureHoldMs > maxLeaseTtlMs) throw new RangeError('failureHoldMs is at least 4 polls and at most the longest lease');
    this.#leases = options.leases;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#ttlMs = options.ttlMs;
    this.#failureCode = options.failureCode ?? defaultFailureCode;
    this.#failureError = options.failureError ?? ((code) => new SharedFailureError(code));
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** `task`'s result, from whichever caller did the work; callers of one key in this process share the first one's task. */
  run<T>(key: string, task: SingleFlightTask<T>): Promise<T> {
    return this.#inFlight.run(key, () => this.#attempt(key, task));
  }

  async #attempt<T>(key: string, task: SingleFlightTask<T>): Promise<T> {
    const holder = this.#random(16).toString('base64url');
    for (;;) {
      const ready = await task.fresh();
      if (ready !== null) return ready;
      if (await this.#leases.acquire(key, holder, this.#ttlMs, this.#clock.now())) return this.#lead(key, holder, task);
      const waited = await this.#wait(key, task);
      if (waited.done) return waited.value;
      // The lease is free and nothing is fresh: its holder died, or released without a result. Try to take it.
    }
  }

  async #lead<T>(key: string, holder: string, task: SingleFlightTask<T>): Promise<T> {
    let result: T;
    // Real time, like the work's own network timeouts; a fifth of the TTL (at most 1 s) is left for
    // recording the outcome before the lease runs out.
    const signal = AbortSignal.timeout(this.#ttlMs - Math.min(1_000, Math.floor(this.#ttlMs / 5)));
    try {
      // Another holder may have finished between our first read and the acquire.
      const ready = await task.fresh();
      result = ready ?? (await task.work(signal));
    } catch (error) {
      const code = this.#failureCode(error);
      // If the store cannot record the outcome either, the lease simply expires after its TTL.
      if (code === null) await this.#leases.release(key, holder).catch(() => false);
      else await this.#leases.fail(key, holder, code, this.#failureHoldMs, this.#clock.now()).catch(() => false);
      throw error;
    }
    // The result is stored already; a release the store misses only delays waiters to the TTL.
    await this.#leases.release(key, holder).catch(() => false);
    return result;
  }

  async #wait<T>(key: string, task: SingleFlightTask<T>): Promise<Waited<T>> {
    let seen: string | null = null;
    let deadline = 0;
    for (;;) {
      const state = await this.#leases.read(key, this.#clock.now());
      if (state === null) {
        const ready = await task.fresh();
        return ready === null ? { done: false } : { done: true, value: ready };
      }
      if (state.failure !== null) {
        checkFailure(state.failure);
        throw this.#failureError(state.failure);
      }
      if (state.holder !== seen) {
        seen = state.holder;
        deadline = this.#clock.now() + this.#ttlMs + waitMarginMs;
      } else if (this.#clock.now() > deadline) {
        throw new SingleFlightTimeoutError();
      }
      await this.#sleep(this.#pollMs);
      const ready = await task.fresh();
      if (ready !== null) return { done: true, value: ready };
    }
  }
}
