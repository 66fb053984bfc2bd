import type { Database, Statement } from 'better-sqlite3';
import { revocationPageSize, type Revocation, type RevocationLog, type RevocationScope, type RevocationsSince } from '../../cluster/revocation-log.js';

/**
 * Appends one entry and returns its seq; run by the session store inside its deleting transaction.
 * `at` is the database's clock in milliseconds. SQLite has one writer at a time, so seqs commit in order.
 */
export const appendRevocationSql = `INSERT INTO revocations (at, scope, subject)
  VALUES (CAST(unixepoch('subsec') * 1000 AS INTEGER), ?, ?) RETURNING seq`;

interface RevocationRow {
  seq: number;
  at: number;
  scope: RevocationScope;
  subject: string | null;
}

/** RevocationLog on SQLite (migration 9). */
export class SqliteRevocationLog implements RevocationLog {
  readonly #since: Statement<[number, number], RevocationRow>;
  readonly #oldest: Statement<[], number | null>;
  readonly #latest: Statement<[], number | null>;
  readonly #purge: Statement<[number]>;
  readonly #read: (seq: number, limit: number) => RevocationsSince;

  constructor(db: Database) {
    this.#since = db.prepare('SELECT seq, at, scope, subject FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?');
    this.#oldest = db.prepare<[], number | null>('SELECT min(seq) FROM revocations').pluck();
    this.#latest = db.prepare<[], number | null>('SELECT max(seq) FROM revocations').pluck();
    // The newest entry stays whatever its age, so latestSeq never goes back.
    this.#purge = db.prepare('DELETE FROM revocations WHERE at < ? AND seq < (SELECT max(seq) FROM revocations)');
    // One read transaction: the entries and the oldest seq from the same snapshot.
    this.#read = db.transaction((seq: number, limit: number) => {
      const oldest = this.#oldest.get() ?? null;
      return { revocations: this.#since.all(seq, limit).map(toRevocation), complete: oldest === null || seq >= oldest - 1 };
    });
  }

  async since(seq: number, limit = revocationPageSize): Promise<RevocationsSince> {
    return this.#read(seq, limit);
  }

  async latestSeq(): Promise<number> {
    return this.#latest.get() ?? 0;
  }

  async purge(before: number): Promise<number> {
    return this.#purge.run(before).changes;
  }
}

function toRevocation(row: RevocationRow): Revocation {
  return { seq: row.seq, at: row.at, scope: row.scope, subject: row.subject };
}
