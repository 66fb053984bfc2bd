import type pg from 'pg';
import { checkFailure, checkLease, type LeaseState, type LeaseStore } from '../../cluster/lease-store.js';
import { changed, run, statement } from './queries.js';

// The upsert's WHERE is evaluated on the row as committed when the conflict is seen (READ
// COMMITTED: a concurrent inserter's row is waited for, then re-checked), so of racing nodes exactly
// one gets a row back. https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT
const acquire = statement('leases_acquire', `INSERT INTO leases (key, holder, expires_at, failure) VALUES ($1, $2, $3::bigint + $4::bigint, NULL)
  ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, failure = NULL WHERE leases.expires_at <= $3`);
const release = statement('leases_release', 'DELETE FROM leases WHERE key = $1 AND holder = $2');
const fail = statement('leases_fail', 'UPDATE leases SET failure = $1, expires_at = $2 WHERE key = $3 AND holder = $4');
const read = statement('leases_read', 'SELECT holder, failure FROM leases WHERE key = $1 AND expires_at > $2');
const purge = statement('leases_purge', 'DELETE FROM leases WHERE expires_at <= $1');

/** LeaseStore on PostgreSQL (migration 9): one statement per verb, each atomic on its own. */
export class PostgresLeaseStore implements LeaseStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async acquire(key: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    checkLease(key, holder, ttlMs, now);
    return changed(await run(this.#pool, acquire, [key, holder, now, ttlMs])) === 1;
  }

  async release(key: string, holder: string): Promise<boolean> {
    return changed(await run(this.#pool, release, [key, holder])) === 1;
  }

  async fail(key: string, holder: string, failure: string, holdMs: number, now: number): Promise<boolean> {
    checkLease(key, holder, holdMs, now);
    checkFailure(failure);
    return changed(await run(this.#pool, fail, [failure, now + holdMs, key, holder])) === 1;
  }

  async read(key: string, now: number): Promise<LeaseState | null> {
    const row = (await run<{ holder: string; failure: string | null }>(this.#pool, read, [key, now])).rows[0];
    return row ? { holder: row.holder, failure: row.failure } : null;
  }

  async purge(now: number): Promise<number> {
    return changed(await run(this.#pool, purge, [now]));
  }
}
