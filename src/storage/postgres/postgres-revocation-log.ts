import type pg from 'pg';
import { revocationPageSize, type Revocation, type RevocationLog, type RevocationScope, type RevocationsSince } from '../../cluster/revocation-log.js';
import { changed, run, statement, transaction, type Queryable } from './queries.js';

/**
 * The key of the transaction-level advisory lock every append runs under (one bigint; the
 * migration lock, migrations.ts, is the next number down). An identity hands out numbers in the
 * order transactions ask, not the order they commit: without the lock, a reader could see seq 6
 * committed while 5 is still to come, and skip 5 for good. Under it, appends — and so revocations
 * — commit one at a time, in seq order; revocations are rare enough for that to cost nothing.
 */
const revocationLockKey = '7449363237540164980';

export const lockRevocationLog = statement('revocations_lock', `SELECT pg_advisory_xact_lock(${revocationLockKey})`);
// `at` by the database's clock, in milliseconds: the one clock every node shares.
const append = statement('revocations_append', `INSERT INTO revocations (at, scope, subject)
  VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::bigint, $1, $2) RETURNING seq`);
const since = statement('revocations_since', 'SELECT seq, at, scope, subject FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2');
const oldest = statement('revocations_oldest', 'SELECT min(seq) AS seq FROM revocations');
const latest = statement('revocations_latest', 'SELECT max(seq) AS seq FROM revocations');
// The newest entry stays whatever its age, so latestSeq never goes back.
const purge = statement('revocations_purge', 'DELETE FROM revocations WHERE at < $1 AND seq < (SELECT max(seq) FROM revocations)');

/** Appends one entry inside the caller's transaction, which must hold `lockRevocationLog`. */
export async function appendRevocation(client: Queryable, scope: RevocationScope, subject: string | null): Promise<number> {
  return (await run<{ seq: number }>(client, append, [scope, subject])).rows[0]!.seq;
}

/** RevocationLog on PostgreSQL (migration 6). */
export class PostgresRevocationLog implements RevocationLog {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async since(seq: number, limit = revocationPageSize): Promise<RevocationsSince> {
    // REPEATABLE READ: the entries and the oldest seq from one snapshot.
    return transaction(this.#pool, async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const first = (await run<{ seq: number | null }>(client, oldest)).rows[0]?.seq ?? null;
      const rows = (await run<Revocation>(client, since, [seq, limit])).rows;
      return { revocations: rows.map((r) => ({ seq: r.seq, at: r.at, scope: r.scope, subject: r.subject })), complete: first === null || seq >= first - 1 };
    });
  }

  async latestSeq(): Promise<number> {
    return (await run<{ seq: number | null }>(this.#pool, latest)).rows[0]?.seq ?? 0;
  }

  async purge(before: number): Promise<number> {
    return changed(await run(this.#pool, purge, [before]));
  }
}
