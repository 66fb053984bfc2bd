import type { Database, Statement, Transaction } from 'better-sqlite3';
import { BucketWindow, checkMax, checkWindow, windowFor } from '../../rules/bucket-window.js';
import { runChecks, validateChecks } from '../../rules/counter-checks.js';
import type { CheckResult, CounterCheck, CounterStore, TakeResult, WindowCount } from '../../rules/counter-store.js';
import { decodeCounts, encodeCounts } from '../bucket-counts.js';

interface WindowRow {
  windowMs: number;
  head: number;
  counts: Buffer;
}

/**
 * CounterStore on SQLite, for several processes (workers) on one machine sharing the file. A key is
 * one row: its window's bucket counts (rules/bucket-window.ts) in a small BLOB, at most 61 pairs of
 * (age in buckets, count), so a key costs the same whatever its `max` and its traffic, and every
 * verb reads and writes that one row by its primary key.
 *
 * `take` and `add` read and write in one BEGIN IMMEDIATE transaction: the file's write lock is taken
 * before the read, so two processes at `max - 1` serialise and the second sees the first's hit.
 * (A deferred transaction reading first could not upgrade to a write in WAL mode once a peer has
 * committed: SQLITE_BUSY.) A take that will be refused is answered without the lock.
 *
 * Keys whose window has emptied stay until `purge`, which the composition root calls periodically.
 */
export class SqliteCounterStore implements CounterStore {
  readonly #select: Statement<[string], WindowRow>;
  readonly #write: Statement<[string, number, number, Buffer, number]>;
  readonly #reset: Statement<[string]>;
  readonly #block: Statement<[string, number]>;
  readonly #blockedUntil: Statement<[string, number], { until: number }>;
  readonly #take: Transaction<(key: string, now: number, windowMs: number, max: number) => TakeResult>;
  readonly #add: Transaction<(key: string, now: number, windowMs: number) => number>;
  readonly #evaluate: Transaction<(checks: readonly CounterCheck[], now: number) => CheckResult[]>;
  readonly #purge: Transaction<(now: number) => void>;

  constructor(db: Database) {
    this.#select = db.prepare('SELECT window_ms AS windowMs, head, counts FROM counter_windows WHERE key = ?');
    this.#write = db.prepare(`INSERT INTO counter_windows (key, window_ms, head, counts, expires_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET window_ms = excluded.window_ms, head = excluded.head, counts = excluded.counts, expires_at = excluded.expires_at`);
    this.#reset = db.prepare('DELETE FROM counter_windows WHERE key = ?');
    // One statement, so "the later end wins" holds across processes without a transaction.
    this.#block = db.prepare(`INSERT INTO counter_blocks (key, until) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET until = max(counter_blocks.until, excluded.until)`);
    this.#blockedUntil = db.prepare('SELECT until FROM counter_blocks WHERE key = ? AND until > ?');
    const purgeWindows = db.prepare<[number]>('DELETE FROM counter_windows WHERE expires_at <= ?');
    const purgeBlocks = db.prepare<[number]>('DELETE FROM counter_blocks WHERE until <= ?');

    this.#take = db.transaction((key: string, now: number, windowMs: number, max: number): TakeResult => {
      const window = this.#load(key, now, windowMs);
      const count = window.countAt(now);
      if (count >= max) return { allowed: false, count, retryAt: window.retryAt(max, now) };
      return { allowed: true, count: this.#record(key, window, now), retryAt: null };
    });
    this.#add = db.transaction((key: string, now: number, windowMs: number): number => this.#record(key, this.#load(key, now, windowMs), now));
    this.#evaluate = db.transaction((checks: readonly CounterCheck[], now: number): CheckResult[] => runChecks(checks, now, {
      // Inside the outer transaction these run as savepoints of it: one write lock for the batch.
      take: (key, at, windowMs, max) => this.#take(key, at, windowMs, max),
      add: (key, at, windowMs) => this.#add(key, at, windowMs),
      count: (key, at, windowMs, max) => {
        const window = this.#load(key, at, windowMs);
        return { count: window.countAt(at), retryAt: window.retryAt(max, at) };
      },
    }));
    this.#purge = db.transaction((now: number): void => {
      purgeWindows.run(now);
      purgeBlocks.run(now);
    });
  }

  async take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult> {
    checkWindow(windowMs);
    checkMax(max);
    // Fast path for refusals (most takes under a flood): a plain read, no write lock. Sound,
    // because counts leave a window only as time passes or by reset/purge: a count at `max` in the
    // snapshot this read saw was true at a moment within this call, so refusing is linearisable.
    const seen = this.#load(key, now, windowMs);
    const count = seen.countAt(now);
    if (count >= max) return { allowed: false, count, retryAt: seen.retryAt(max, now) };
    return this.#take.immediate(key, now, windowMs, max);
  }

  async add(key: string, now: number, windowMs: number): Promise<number> {
    checkWindow(windowMs);
    return this.#add.immediate(key, now, windowMs);
  }

  async count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount> {
    checkWindow(windowMs);
    checkMax(max);
    const window = this.#load(key, now, windowMs);
    return { count: window.countAt(now), retryAt: window.retryAt(max, now) };
  }

  /** One BEGIN IMMEDIATE transaction for the whole batch, unless its first check refuses (below). */
  async evaluate(checks: readonly CounterCheck[], now: number): Promise<CheckResult[]> {
    validateChecks(checks);
    const refused = this.#refusedAtOnce(checks[0], now);
    return refused ? [refused] : this.#evaluate.immediate(checks, now);
  }

  /**
   * `take`'s fast path for a batch: when the first check refuses and writes nothing (a count, or a
   * take whose marker is already taken too), its answer without the write lock, as under a flood
   * against the first rule. Sound for the reason `take` gives. Else null.
   */
  #refusedAtOnce(check: CounterCheck | undefined, now: number): CheckResult | null {
    if (check === undefined || check.verb === 'add') return null;
    const window = this.#load(check.key, now, check.windowMs);
    const count = window.countAt(now);
    if (count < check.max) return null;
    if (check.verb === 'take' && check.marker !== undefined && this.#load(check.marker, now, check.windowMs).countAt(now) < 1) return null;
    return { allowed: false, count, retryAt: window.retryAt(check.max, now), first: false };
  }

  async reset(key: string): Promise<void> {
    this.#reset.run(key);
  }

  async block(key: string, until: number): Promise<void> {
    this.#block.run(key, until);
  }

  async blockedUntil(key: string, now: number): Promise<number | null> {
    return this.#blockedUntil.get(key, now)?.until ?? null;
  }

  async purge(now: number): Promise<void> {
    this.#purge.immediate(now);
  }

  /** The key's window as stored, laid out for `windowMs` (rules/bucket-window.ts, `windowFor`). */
  #load(key: string, now: number, windowMs: number): BucketWindow {
    const row = this.#select.get(key);
    const stored = row ? BucketWindow.restore(row.windowMs, row.head, decodeCounts(row.head, row.counts)) : null;
    return windowFor(stored, windowMs, now);
  }

  /** Counts one hit at `now` in the window and writes it back; returns the hits it now counts. */
  #record(key: string, window: BucketWindow, now: number): number {
    window.advance(now);
    window.record();
    this.#write.run(key, window.windowMs, window.head, encodeCounts(window), window.expiresAt);
    return window.total;
  }
}
