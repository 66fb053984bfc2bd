import type { Database, Statement } from 'better-sqlite3';
import type { AuditEvent, AuditStore } from '../../audit/audit-store.js';
import { toAuditEvent, type AuditRow } from '../rows.js';

/** AuditStore on SQLite: append-only; the autoincrement id orders events that share a millisecond. */
export class SqliteAuditStore implements AuditStore {
  readonly #append: Statement<[AuditRow]>;
  readonly #recent: Statement<[number], AuditRow>;

  constructor(db: Database) {
    this.#append = db.prepare(`INSERT INTO audit_events (time, type, user_name, ip, request_id, detail)
      VALUES (@time, @type, @user_name, @ip, @request_id, @detail)`);
    this.#recent = db.prepare('SELECT time, type, user_name, ip, request_id, detail FROM audit_events ORDER BY time DESC, id DESC LIMIT ?');
  }

  async append(event: AuditEvent): Promise<void> {
    this.#append.run({
      time: event.time,
      type: event.type,
      user_name: event.user,
      ip: event.ip,
      request_id: event.requestId,
      detail: JSON.stringify(event.detail),
    });
  }

  async recent(limit: number): Promise<AuditEvent[]> {
    // SQLite reads a negative LIMIT as "no limit"; a caller asking for that has a bug.
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`audit limit must be a whole number of at least 0, got ${limit}`);
    return this.#recent.all(limit).map(toAuditEvent);
  }
}
