import type pg from 'pg';
import { BucketWindow, checkMax, checkWindow, windowFor } from '../../rules/bucket-window.js';
import { runChecksInTurn, validateChecks } from '../../rules/counter-checks.js';
import type { CheckResult, CounterCheck, CounterStore, TakeResult, WindowCount } from '../../rules/counter-store.js';
import { decodeCounts, encodeCounts } from '../bucket-counts.js';
import { run, statement, storable, transaction, type Queryable } from './queries.js';

interface WindowRow {
  window_ms: number;
  head: number;
  counts: Buffer;
}

/**
 * The first key of the per-key advisory lock (a pair of 32-bit keys, "gh" and a number, apart from
 * postgres-mfa-store.ts's and from the migrations' single 64-bit key).
 */
const counterKeyLock = 0x67680003;

const lockKey = statement('counters_lock_key', 'SELECT pg_advisory_xact_lock($1::integer, hashtext($2))');
const select = statement('counters_select', 'SELECT window_ms, head, counts FROM counter_windows WHERE key = $1');
const write = statement('counters_write', `INSERT INTO counter_windows (key, window_ms, head, counts, expires_at) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (key) DO UPDATE SET window_ms = excluded.window_ms, head = excluded.head, counts = excluded.counts, expires_at = excluded.expires_at`);
const reset = statement('counters_reset', 'DELETE FROM counter_windows WHERE key = $1');
// One statement, so "the later end wins" holds across nodes without a transaction: ON CONFLICT takes the row lock.
const block = statement('counters_block', `INSERT INTO counter_blocks (key, until) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET until = greatest(counter_blocks.until, excluded.until)`);
const blockedUntil = statement('counters_blocked_until', 'SELECT until FROM counter_blocks WHERE key = $1 AND until > $2');
const purgeWindows = statement('counters_purge_windows', 'DELETE FROM counter_windows WHERE expires_at <= $1');
const purgeBlocks = statement('counters_purge_blocks', 'DELETE FROM counter_blocks WHERE until <= $1');

/**
 * CounterStore on PostgreSQL: the login throttle's failures and back-off holds (SPEC §8, "Where state
 * lives": in PostgreSQL, so a Redis restart forgets none of them), shared by every node. The same
 * layout and algorithm as SqliteCounterStore: one row per key, its window's bucket counts
 * (rules/bucket-window.ts) in a small bytea.
 *
 * `take` and `add` read, count and write in one transaction that first takes a transaction-level
 * advisory lock on the key: a row lock (SELECT … FOR UPDATE) cannot cover a key that has no row
 * yet, and two nodes inserting its first hit at once must still serialise. The read runs after the
 * lock is held, as a statement of its own, so under READ COMMITTED it sees what the previous holder
 * committed. A take that will be refused is answered by one plain read, without the lock (sound for
 * the reason SqliteCounterStore gives). Five round trips per counted hit: fine for logins, which
 * cost an argon2 hash each; rate rules, which count every proxied request, stay in Redis.
 *
 * Keys whose window has emptied stay until `purge` (housekeeping).
 */
export class PostgresCounterStore implements CounterStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult> {
    checkWindow(windowMs);
    checkMax(max);
    checkKey(key);
    const seen = await this.#load(this.#pool, key, now, windowMs);
    const count = seen.countAt(now);
    if (count >= max) return { allowed: false, count, retryAt: seen.retryAt(max, now) };
    return transaction(this.#pool, async (client) => {
      await run(client, lockKey, [counterKeyLock, key]);
      const window = await this.#load(client, key, now, windowMs);
      const counted = window.countAt(now);
      if (counted >= max) return { allowed: false, count: counted, retryAt: window.retryAt(max, now) };
      return { allowed: true, count: await record(client, key, window, now), retryAt: null };
    });
  }

  async add(key: string, now: number, windowMs: number): Promise<number> {
    checkWindow(windowMs);
    checkKey(key);
    return transaction(this.#pool, async (client) => {
      await run(client, lockKey, [counterKeyLock, key]);
      return record(client, key, await this.#load(client, key, now, windowMs), now);
    });
  }

  async count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount> {
    checkWindow(windowMs);
    checkMax(max);
    checkKey(key);
    const window = await this.#load(this.#pool, key, now, windowMs);
    return { count: window.countAt(now), retryAt: window.retryAt(max, now) };
  }

  /**
   * One transaction for the whole batch: the advisory locks of every key it may write (markers
   * too), taken first and in one order, so two batches over the same keys cannot deadlock; then
   * each check as its verb does it, reading what the previous one wrote.
   */
  async evaluate(checks: readonly CounterCheck[], now: number): Promise<CheckResult[]> {
    validateChecks(checks);
    const keys = [...new Set(checks.flatMap((c) => (c.verb === 'take' && c.marker !== undefined ? [c.key, c.marker] : [c.key])))].sort();
    for (const key of keys) checkKey(key);
    if (checks.length === 0) return [];
    return transaction(this.#pool, async (client) => {
      for (const key of keys) await run(client, lockKey, [counterKeyLock, key]);
      return runChecksInTurn(checks, now, {
        take: async (key, at, windowMs, max) => {
          const window = await this.#load(client, key, at, windowMs);
          const count = window.countAt(at);
          if (count >= max) return { allowed: false, count, retryAt: window.retryAt(max, at) };
          return { allowed: true, count: await record(client, key, window, at), retryAt: null };
        },
        add: async (key, at, windowMs) => record(client, key, await this.#load(client, key, at, windowMs), at),
        count: async (key, at, windowMs, max) => {
          const window = await this.#load(client, key, at, windowMs);
          return { count: window.countAt(at), retryAt: window.retryAt(max, at) };
        },
      });
    });
  }

  async reset(key: string): Promise<void> {
    checkKey(key);
    await run(this.#pool, reset, [key]);
  }

  async block(key: string, until: number): Promise<void> {
    checkKey(key);
    await run(this.#pool, block, [key, until]);
  }

  async blockedUntil(key: string, now: number): Promise<number | null> {
    checkKey(key);
    return (await run<{ until: number }>(this.#pool, blockedUntil, [key, now])).rows[0]?.until ?? null;
  }

  async purge(now: number): Promise<void> {
    await run(this.#pool, purgeWindows, [now]);
    await run(this.#pool, purgeBlocks, [now]);
  }

  /** The key's window as stored, laid out for `windowMs` (rules/bucket-window.ts, `windowFor`). */
  async #load(db: Queryable, key: string, now: number, windowMs: number): Promise<BucketWindow> {
    const row = (await run<WindowRow>(db, select, [key])).rows[0];
    const stored = row ? BucketWindow.restore(row.window_ms, row.head, decodeCounts(row.head, row.counts)) : null;
    return windowFor(stored, windowMs, now);
  }
}

/** Counts one hit at `now` in the window and writes it back; returns the hits it now counts. */
async function record(client: Queryable, key: string, window: BucketWindow, now: number): Promise<number> {
  window.advance(now);
  window.record();
  await run(client, write, [key, window.windowMs, window.head, encodeCounts(window), window.expiresAt]);
  return window.total;
}

/**
 * Counter keys are Gatehouse's own ("login:acct:" and a hash, "login:ip:" and an address), never a
 * client's text as sent; one PostgreSQL's text cannot hold is a bug, said plainly.
 */
function checkKey(key: string): void {
  if (!storable(key)) throw new TypeError('a counter key holds a NUL character');
}
