import type pg from 'pg';
import type { AuditEvent, AuditStore } from '../../audit/audit-store.js';
import { toAuditEvent, type AuditRow } from '../rows.js';
import { run, statement } from './queries.js';

const append = statement('audit_append', 'INSERT INTO audit_events (time, type, user_name, ip, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6)');
const recent = statement('audit_recent', 'SELECT time, type, user_name, ip, request_id, detail FROM audit_events ORDER BY time DESC, id DESC LIMIT $1');

/**
 * AuditStore on PostgreSQL: append-only; the identity column orders events that share a millisecond.
 * The detail is kept as the JSON text it was written as (text, not jsonb): exactly what was recorded,
 * with \u0000 escapes that jsonb would refuse.
 */
export class PostgresAuditStore implements AuditStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async append(event: AuditEvent): Promise<void> {
    await run(this.#pool, append, [event.time, event.type, event.user, event.ip, event.requestId, JSON.stringify(event.detail)]);
  }

  async recent(limit: number): Promise<AuditEvent[]> {
    // The same refusal as the SQLite adapter's: a caller asking for this has a bug.
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`audit limit must be a whole number of at least 0, got ${limit}`);
    return (await run<AuditRow>(this.#pool, recent, [limit])).rows.map(toAuditEvent);
  }
}
