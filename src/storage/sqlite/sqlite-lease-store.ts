import type { Database, Statement } from 'better-sqlite3';
import { checkFailure, checkLease, type LeaseState, type LeaseStore } from '../../cluster/lease-store.js';
import { answeringOrUnavailable as call } from './sqlite-outage.js';

/** LeaseStore on SQLite (migration 12): one statement per verb, so each is atomic under the file's write lock. */
export class SqliteLeaseStore implements LeaseStore {
  readonly #acquire: Statement<[string, string, number, number]>;
  readonly #release: Statement<[string, string]>;
  readonly #fail: Statement<[string, number, string, string]>;
  readonly #read: Statement<[string, number], { holder: string; failure: string | null }>;
  readonly #purge: Statement<[number]>;

  constructor(db: Database) {
    // The upsert's WHERE leaves a live lease untouched: `changes` is 1 only for the caller that took it.
    this.#acquire = db.prepare(`INSERT INTO leases (key, holder, expires_at, failure) VALUES (?, ?, ?, NULL)
      ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, failure = NULL WHERE leases.expires_at <= ?`);
    this.#release = db.prepare('DELETE FROM leases WHERE key = ? AND holder = ?');
    this.#fail = db.prepare('UPDATE leases SET failure = ?, expires_at = ? WHERE key = ? AND holder = ?');
    this.#read = db.prepare('SELECT holder, failure FROM leases WHERE key = ? AND expires_at > ?');
    this.#purge = db.prepare('DELETE FROM leases WHERE expires_at <= ?');
  }

  async acquire(key: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    checkLease(key, holder, ttlMs, now);
    return call(() => this.#acquire.run(key, holder, now + ttlMs, now).changes === 1);
  }

  async release(key: string, holder: string): Promise<boolean> {
    return call(() => this.#release.run(key, holder).changes === 1);
  }

  async fail(key: string, holder: string, failure: string, holdMs: number, now: number): Promise<boolean> {
    checkLease(key, holder, holdMs, now);
    checkFailure(failure);
    return call(() => this.#fail.run(failure, now + holdMs, key, holder).changes === 1);
  }

  async read(key: string, now: number): Promise<LeaseState | null> {
    const row = call(() => this.#read.get(key, now));
    return row ? { holder: row.holder, failure: row.failure } : null;
  }

  async purge(now: number): Promise<number> {
    return call(() => this.#purge.run(now).changes);
  }
}
