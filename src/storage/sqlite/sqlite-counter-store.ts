import type { Database, Statement, Transaction } from 'better-sqlite3';
import type { CounterStore, TakeResult, WindowCount } from '../../rules/counter-store.js';

interface WindowRow {
  count: number;
  oldest: number | null;
  newest: number | null;
}

/**
 * CounterStore on SQLite, for several processes (workers) on one machine sharing the file. A hit is
 * a row (key, at); the (key, at) index answers every window query without touching the table.
 *
 * `take` and `add` read and write in one BEGIN IMMEDIATE transaction: the file's write lock is taken
 * before the count, so two processes at `max - 1` serialise and the second sees the first's hit.
 * (A deferred transaction reading first could not upgrade to a write in WAL mode once a peer has
 * committed: SQLITE_BUSY.) A take that will be refused is answered without the lock.
 *
 * Expired rows stay until `purge`, which the composition root must call periodically with the
 * largest configured window; without it the table grows with every counted request.
 */
export class SqliteCounterStore implements CounterStore {
  readonly #window: Statement<[string, number], WindowRow>;
  readonly #windowUpTo: Statement<[string, number, number], WindowRow>;
  readonly #insert: Statement<[string, number]>;
  readonly #reset: Statement<[string]>;
  readonly #take: Transaction<(key: string, now: number, windowMs: number, max: number) => TakeResult>;
  readonly #add: Transaction<(key: string, now: number, windowMs: number) => number>;
  readonly #purge: Transaction<(now: number, maxWindowMs: number) => void>;

  constructor(db: Database) {
    // No upper bound on `at`: a hit a little later than `now` (another worker read the clock after
    // this one but committed first) still counts, so clock order can never let an extra request in.
    this.#window = db.prepare('SELECT count(*) AS count, min(at) AS oldest, max(at) AS newest FROM counter_hits WHERE key = ? AND at > ?');
    // What `take` needs: whether `max` is reached, and the oldest hit. Walking the (key, at) index
    // in order and stopping at `max` rows bounds its cost by the limit, not by the hits a busy key
    // holds (a window of 10,000 hits cost ~1 ms per request counted in full).
    this.#windowUpTo = db.prepare(`SELECT count(*) AS count, min(at) AS oldest, max(at) AS newest
      FROM (SELECT at FROM counter_hits WHERE key = ? AND at > ? ORDER BY at LIMIT ?)`);
    this.#insert = db.prepare('INSERT INTO counter_hits (key, at) VALUES (?, ?)');
    this.#reset = db.prepare('DELETE FROM counter_hits WHERE key = ?');
    const purgeHits = db.prepare<[number]>('DELETE FROM counter_hits WHERE at < ?');

    this.#take = db.transaction((key: string, now: number, windowMs: number, max: number): TakeResult => {
      const { count, oldest } = this.#windowUpTo.get(key, now - windowMs, max)!;
      if (count >= max) return { allowed: false, count, retryAt: oldest! + windowMs };
      this.#insert.run(key, now);
      return { allowed: true, count: count + 1, retryAt: null };
    });
    this.#add = db.transaction((key: string, now: number, windowMs: number): number => {
      this.#insert.run(key, now);
      return this.#window.get(key, now - windowMs)!.count;
    });
    this.#purge = db.transaction((now: number, maxWindowMs: number): void => {
      purgeHits.run(now - maxWindowMs);
    });
  }

  async take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult> {
    checkWindow(windowMs);
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`take: max must be a whole number of at least 1, not ${max}`);
    // Fast path for refusals (most takes under a flood): a plain read, no write lock. Sound,
    // because hits leave a window only as time passes or by reset/purge: a count at `max` in the
    // snapshot this read saw was true at a moment within this call, so refusing is linearisable.
    const seen = this.#windowUpTo.get(key, now - windowMs, max)!;
    if (seen.count >= max) return { allowed: false, count: seen.count, retryAt: seen.oldest! + windowMs };
    return this.#take.immediate(key, now, windowMs, max);
  }

  async add(key: string, now: number, windowMs: number): Promise<number> {
    checkWindow(windowMs);
    return this.#add.immediate(key, now, windowMs);
  }

  async count(key: string, now: number, windowMs: number): Promise<WindowCount> {
    checkWindow(windowMs);
    const row = this.#window.get(key, now - windowMs)!;
    return { count: row.count, oldest: row.oldest, newest: row.newest };
  }

  async reset(key: string): Promise<void> {
    this.#reset.run(key);
  }

  async purge(now: number, maxWindowMs: number): Promise<void> {
    // The hits scan is a full one (the index leads with key); it runs as housekeeping, not per request.
    this.#purge.immediate(now, maxWindowMs);
  }
}

function checkWindow(windowMs: number): void {
  if (!(windowMs > 0)) throw new RangeError(`the window must be a positive number of milliseconds, not ${windowMs}`);
}
