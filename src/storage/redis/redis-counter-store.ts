import { checkMax, checkWindow } from '../../rules/bucket-window.js';
import { validateChecks } from '../../rules/counter-checks.js';
import type { CheckResult, CounterCheck, CounterStore, TakeResult, WindowCount } from '../../rules/counter-store.js';
import { counterScript, counterScriptSha } from './counter-script.js';

/**
 * The one method of a node-redis client this store uses. Whatever bounds a command (the timeout,
 * no offline queue) is the client's: build it with `createRedisClient` (decision 0003), which
 * `sendCommand` honours for every call made here.
 */
export interface RedisCommandSender {
  sendCommand<T = unknown>(args: readonly string[]): Promise<T>;
}

export interface RedisCounterStoreOptions {
  /**
   * A connected (or connecting) node-redis client, shared with whatever else the node sends to
   * Redis; the store never connects, closes or waits for it.
   */
  client: RedisCommandSender;
  /** SPEC §8 `cache.prefix`: every key starts with it (default "gh:"). */
  prefix?: string;
  /**
   * How much longer than its last hit's window (or its hold) Redis keeps a key, in milliseconds
   * (default 1,000). Expiries are set relative to the `now` a node passes in, so a key written by a
   * node whose clock runs ahead would otherwise leave Redis that much before a node with a
   * correct clock stops counting it (docs/decisions/0005-redis-counters.md, "Clocks").
   */
  expiryMarginMs?: number;
}

/** SCAN batch of the purge. */
const scanCount = '1000';

/**
 * CounterStore on Redis, shared by every node (SPEC §8, "Limits hold across nodes"). A key's
 * window is one string holding its newest bucket and at most 61 bucket counts (counter-script.ts),
 * so a key costs the same whatever its `max` and traffic; a hold is one string holding its end.
 *
 * Each verb is one round trip and atomic for its key (`evaluate`: for all its keys): `take`, `add`, `count` and `evaluate` run the counter
 * script by its SHA-1 (EVALSHA, falling back to EVAL when Redis answers NOSCRIPT, e.g. after a
 * restart: the EVAL caches it again), so concurrent takes from any number of nodes at `max - 1`
 * let exactly one through. Time is the `now` the caller passes (the injected clock), never Redis's.
 *
 * Every write sets the key to expire when its window has emptied (PX, relative to `now`), so Redis
 * drops idle keys by itself. `purge` is therefore housekeeping a production node can skip (see it).
 *
 * Failure is not handled here: a command fails as the client makes it fail (at once while
 * disconnected, at its timeout when Redis hangs), and the error is thrown. What to do then (count
 * on this node alone) is the caller's choice: rules/fallback-counter-store.ts.
 */
export class RedisCounterStore implements CounterStore {
  readonly #client: RedisCommandSender;
  readonly #counterPrefix: string;
  readonly #holdPrefix: string;
  readonly #margin: string;
  readonly #marginMs: number;
  /**
   * The latest `now` a caller passed (the last, not the largest: a clock that jumped ahead and
   * back must not shorten every later hold). `block` has no `now` of its own, and a hold's expiry
   * must be relative to one; NaN until the first call that passes a time.
   */
  #lastNow = Number.NaN;

  constructor(options: RedisCounterStoreOptions) {
    const prefix = options.prefix ?? 'gh:';
    const marginMs = options.expiryMarginMs ?? 1_000;
    if (!Number.isInteger(marginMs) || marginMs < 0) throw new RangeError(`RedisCounterStore: expiryMarginMs must be a whole number of at least 0, not ${marginMs}`);
    this.#client = options.client;
    this.#counterPrefix = `${prefix}cnt:`;
    this.#holdPrefix = `${prefix}hold:`;
    this.#marginMs = marginMs;
    this.#margin = String(marginMs);
  }

  /** The Redis key holding `key`'s window (for tests and operators). */
  counterKey(key: string): string {
    return this.#counterPrefix + key;
  }

  /** The Redis key holding `key`'s hold. */
  holdKey(key: string): string {
    return this.#holdPrefix + key;
  }

  /**
   * Loads the script into Redis's script cache (SCRIPT LOAD), so the first EVALSHA finds it. Optional:
   * a verb that meets NOSCRIPT sends the script itself.
   */
  async load(): Promise<void> {
    await this.#client.sendCommand(['SCRIPT', 'LOAD', counterScript]);
  }

  async take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult> {
    checkWindow(windowMs);
    checkMax(max);
    this.#lastNow = now;
    const [allowed, count, retryAt] = await this.#run<[number, number, number | null]>(this.counterKey(key), ['take', String(now), String(windowMs), String(max), this.#margin]);
    return { allowed: allowed === 1, count, retryAt: retryAt ?? null };
  }

  async add(key: string, now: number, windowMs: number): Promise<number> {
    checkWindow(windowMs);
    this.#lastNow = now;
    return this.#run<number>(this.counterKey(key), ['add', String(now), String(windowMs), this.#margin]);
  }

  async count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount> {
    checkWindow(windowMs);
    checkMax(max);
    this.#lastNow = now;
    const [count, retryAt] = await this.#run<[number, number | null]>(this.counterKey(key), ['count', String(now), String(windowMs), String(max)]);
    return { count, retryAt: retryAt ?? null };
  }

  /** The whole batch in one EVALSHA: one round trip, atomic across every node. */
  async evaluate(checks: readonly CounterCheck[], now: number): Promise<CheckResult[]> {
    validateChecks(checks);
    if (checks.length === 0) return [];
    this.#lastNow = now;
    const keys: string[] = [];
    const args = ['evaluate', String(now), this.#margin];
    for (const check of checks) {
      keys.push(this.counterKey(check.key));
      const marked = check.verb === 'take' && check.marker !== undefined;
      if (marked) keys.push(this.counterKey(check.marker!));
      args.push(check.verb, String(check.windowMs), check.verb === 'add' ? '' : String(check.max), marked ? '1' : '0');
    }
    const results = await this.#runOn<[number, number, number | null, number][]>(keys, args);
    return results.map(([allowed, count, retryAt, first]) => ({ allowed: allowed === 1, count, retryAt: retryAt ?? null, first: first === 1 }));
  }

  async reset(key: string): Promise<void> {
    await this.#client.sendCommand(['DEL', this.counterKey(key)]);
  }

  /**
   * The later end wins, in one script. The hold expires `until - now + expiryMarginMs` after it is
   * written, `now` being the latest time a caller passed this store (the login throttle passes
   * one in the `add` just before); with none yet, it is kept until `purge` or a later hold replaces it.
   */
  async block(key: string, until: number): Promise<void> {
    const ttl = Number.isNaN(this.#lastNow) ? '' : String(Math.max(1, Math.ceil(until - this.#lastNow) + this.#marginMs));
    await this.#run(this.holdKey(key), ['hold', String(until), ttl]);
  }

  async blockedUntil(key: string, now: number): Promise<number | null> {
    this.#lastNow = now;
    const until = await this.#client.sendCommand<string | null>(['GET', this.holdKey(key)]);
    if (until === null) return null;
    const end = Number(until);
    return end > now ? end : null;
  }

  /**
   * Deletes the windows that have emptied and the holds that have ended by `now`: SCAN over this
   * prefix's keys, one script per key (so each check-and-delete is atomic and names one key, as a
   * Redis Cluster would need). Redis already drops those keys by itself when their expiry passes,
   * so on a node whose clock is Redis's this finds nothing to do and costs a SCAN of every key
   * under the prefix: the composition may call it rarely, or not at all. It exists because the
   * port promises it at the caller's `now`, which Redis's own clock cannot see.
   */
  async purge(now: number): Promise<void> {
    this.#lastNow = now;
    await this.#sweep(`${globEscape(this.#counterPrefix)}*`, 'sweep-count', now);
    await this.#sweep(`${globEscape(this.#holdPrefix)}*`, 'sweep-hold', now);
  }

  async #sweep(pattern: string, verb: string, now: number): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.#client.sendCommand<[string, string[]]>(['SCAN', cursor, 'MATCH', pattern, 'COUNT', scanCount]);
      // Sent together: node-redis writes them in one go and reads the replies in order (pipelining).
      await Promise.all(keys.map((key) => this.#run(key, [verb, String(now)])));
      cursor = next;
    } while (cursor !== '0');
  }

  #run<T>(key: string, args: string[]): Promise<T> {
    return this.#runOn<T>([key], args);
  }

  /** EVALSHA, or EVAL when the script is not in Redis's cache (NOSCRIPT); the answer either way. */
  async #runOn<T>(keys: string[], args: string[]): Promise<T> {
    try {
      return await this.#client.sendCommand<T>(['EVALSHA', counterScriptSha, String(keys.length), ...keys, ...args]);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.#client.sendCommand<T>(['EVAL', counterScript, String(keys.length), ...keys, ...args]);
    }
  }
}

/** `text` matched literally by SCAN MATCH (its glob characters escaped). */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
