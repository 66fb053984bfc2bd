import type { Database, Statement, Transaction } from 'better-sqlite3';
import type { UserRecord } from '../../accounts/user-store.js';
import type { RevocationScope } from '../../cluster/revocation-log.js';
import type { Revoked, SessionPatch, SessionRecord, SessionStore } from '../../sessions/session-store.js';
import { appendRevocationSql } from './sqlite-revocation-log.js';
import { toUserRecord, userColumns, type UserRow } from './sqlite-user-store.js';

interface SessionRow {
  id_hash: string;
  handle: string;
  user_name: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ip: string;
  user_agent: string;
  password_reset_required: number;
  mfa_pending: number;
  mfa_completed: number;
}

interface SessionParams {
  idHash: string;
  handle: string;
  userName: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string;
  userAgent: string;
  passwordResetRequired: 0 | 1;
  mfaPending: 0 | 1;
  mfaCompleted: 0 | 1;
}

const columns = 'id_hash, handle, user_name, created_at, last_seen_at, expires_at, ip, user_agent, password_reset_required, mfa_pending, mfa_completed';

/** The user's columns in the joined read, prefixed so they cannot clash with the session's. */
const joinedUserColumns = userColumns.map((column) => `u.${column} AS u_${column}`).join(', ');
type JoinedRow = SessionRow & { [K in keyof UserRow as `u_${K}`]: UserRow[K] | null };

type SessionWithUser = { session: SessionRecord; user: UserRecord | null };

/** Idle since before ?1 or past absolute expiry at ?2; exported so a test can check its query plan. */
export const purgeSql = 'DELETE FROM sessions WHERE last_seen_at < ? OR expires_at <= ?';

/** Most joined reads kept for reuse; beyond it the oldest is dropped (a few MB at most). */
const recentReadsLimit = 10_000;

/**
 * SessionStore on SQLite. `getWithUser` runs on every proxied request: one prepared join on the
 * primary key, reused while the database cannot have changed; activity arrives in batches
 * (`touchAll`, one transaction); `rotate` is one IMMEDIATE transaction.
 */
export class SqliteSessionStore implements SessionStore {
  readonly #insert: Statement<[SessionParams]>;
  readonly #get: Statement<[string], SessionRow>;
  readonly #getWithUser: Statement<[string], JoinedRow>;
  readonly #dataVersion: Statement<[], number>;
  readonly #totalChanges: Statement<[], number>;
  /**
   * Joined reads by id hash, each with the store's version when it was read (see getWithUser);
   * `found: null` marks an id read once, not kept.
   */
  readonly #recent = new Map<string, { dataVersion: number; totalChanges: number; found: SessionWithUser | null }>();
  readonly #touch: Statement<[number, string, number]>;
  readonly #delete: Statement<[string], SessionRow>;
  readonly #deleteByHandle: Statement<[string], SessionRow>;
  readonly #deleteIdle: Statement<[string, number], SessionRow>;
  readonly #deleteByUser: Statement<[string, string | null]>;
  readonly #deleteAll: Statement<[]>;
  readonly #list: Statement<[], SessionRow>;
  readonly #listByUser: Statement<[string], SessionRow>;
  readonly #purge: Statement<[number, number]>;
  readonly #countActive: Statement<[number, number], number>;
  readonly #append: Statement<[RevocationScope, string | null], number>;
  readonly #rotate: Transaction<(oldIdHash: string, newIdHash: string, patch: SessionPatch) => Revoked | null>;
  /** Runs the given deletion of one session and logs it, in one transaction. */
  readonly #deleteOne: Transaction<(remove: () => SessionRow | undefined) => (Revoked & { session: SessionRecord }) | null>;
  readonly #deleteMany: Transaction<(scope: 'user' | 'all', userName: string | null, exceptIdHash: string | null) => Revoked & { count: number }>;
  readonly #touchAll: Transaction<(activity: ReadonlyMap<string, number>) => void>;
  readonly #readVersioned: Transaction<(idHash: string) => { dataVersion: number; found: SessionWithUser | null }>;

  constructor(db: Database) {
    this.#insert = db.prepare(`INSERT INTO sessions (${columns}) VALUES
      (@idHash, @handle, @userName, @createdAt, @lastSeenAt, @expiresAt, @ip, @userAgent, @passwordResetRequired, @mfaPending, @mfaCompleted)`);
    this.#get = db.prepare(`SELECT ${columns} FROM sessions WHERE id_hash = ?`);
    // One statement, so one read transaction: each costs SQLite its file-lock system calls.
    this.#getWithUser = db.prepare(`SELECT ${columns.split(', ').map((column) => `s.${column}`).join(', ')}, ${joinedUserColumns}
      FROM sessions s LEFT JOIN users u ON u.name = s.user_name WHERE s.id_hash = ?`);
    // https://www.sqlite.org/pragma.html#pragma_data_version: changes when another connection
    // commits. total_changes() counts this connection's own writes and takes no lock at all.
    this.#dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.#totalChanges = db.prepare<[], number>('SELECT total_changes()').pluck();
    // The WHERE clause keeps lastSeenAt monotonic under concurrent requests and makes a touch
    // that would not move it forward a read, not a write.
    this.#touch = db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?');
    this.#delete = db.prepare(`DELETE FROM sessions WHERE id_hash = ? RETURNING ${columns}`);
    this.#deleteByHandle = db.prepare(`DELETE FROM sessions WHERE handle = ? RETURNING ${columns}`);
    this.#deleteIdle = db.prepare(`DELETE FROM sessions WHERE id_hash = ? AND last_seen_at < ? RETURNING ${columns}`);
    // `IS NOT NULL` is true for every row, so one statement serves both "all" and "all but one".
    this.#deleteByUser = db.prepare('DELETE FROM sessions WHERE user_name = ? AND id_hash IS NOT ?');
    this.#deleteAll = db.prepare('DELETE FROM sessions');
    this.#list = db.prepare(`SELECT ${columns} FROM sessions ORDER BY created_at DESC, rowid DESC`);
    this.#listByUser = db.prepare(`SELECT ${columns} FROM sessions WHERE user_name = ? ORDER BY created_at DESC, rowid DESC`);
    this.#purge = db.prepare(purgeSql);
    this.#countActive = db.prepare<[number, number], number>('SELECT count(*) FROM sessions WHERE last_seen_at >= ? AND expires_at > ?').pluck();
    this.#append = db.prepare<[RevocationScope, string | null], number>(appendRevocationSql).pluck();

    // Every deletion that revokes is one transaction with its log entry (cluster/revocation-log.ts).
    const rotate = (oldIdHash: string, newIdHash: string, patch: SessionPatch): Revoked | null => {
      const old = this.#delete.get(oldIdHash);
      if (!old) return null;
      const next = toRecord(old);
      this.#insert.run(toParams({ ...next, ...definedOnly(patch), idHash: newIdHash }));
      return { seq: this.#append.get('session', old.handle)! };
    };
    this.#rotate = db.transaction(rotate);
    this.#deleteOne = db.transaction((remove: () => SessionRow | undefined) => {
      const row = remove();
      if (!row) return null;
      return { session: toRecord(row), seq: this.#append.get('session', row.handle)! };
    });
    this.#deleteMany = db.transaction((scope: 'user' | 'all', userName: string | null, exceptIdHash: string | null) => {
      const count = scope === 'user' ? this.#deleteByUser.run(userName!, exceptIdHash).changes : this.#deleteAll.run().changes;
      return { count, seq: this.#append.get(scope, userName)! };
    });
    this.#touchAll = db.transaction((activity: ReadonlyMap<string, number>) => {
      for (const [idHash, lastSeenAt] of activity) this.#touch.run(lastSeenAt, idHash, lastSeenAt);
    });
    // Deferred: the pragma starts the read transaction, so the row is read from that same snapshot.
    this.#readVersioned = db.transaction((idHash: string) => ({ dataVersion: this.#dataVersion.get()!, found: this.#readWithUser(idHash) }));
  }

  async create(session: SessionRecord): Promise<void> {
    this.#insert.run(toParams(session));
  }

  async get(idHash: string): Promise<SessionRecord | null> {
    const row = this.#get.get(idHash);
    return row ? toRecord(row) : null;
  }

  /**
   * Runs on every proxied request, so a read is reused while nothing in the database can have
   * changed: this connection has written nothing since (`total_changes()`, no lock at all) and no
   * other connection — the CLI, another worker — has committed (`PRAGMA data_version` unchanged:
   * one lock round instead of a query). Any write anywhere forgets every reuse, so a revocation, a
   * lock or a role change is seen by the very next request, as before.
   *
   * An id seen for the first time is read plainly and only noted: with requests spread over more
   * sessions than are kept (or a flood of made-up cookies) keeping every read would cost more than
   * it saves. From its second read on, the version and the row are read in one read transaction
   * — one lock round, as a plain query — and kept.
   */
  async getWithUser(idHash: string): Promise<SessionWithUser | null> {
    const totalChanges = this.#totalChanges.get()!;
    const recent = this.#recent.get(idHash);
    if (recent === undefined) {
      const found = this.#readWithUser(idHash);
      if (found) this.#remember(idHash, { dataVersion: -1, totalChanges: -1, found: null }, false);
      return found;
    }
    if (recent.found && recent.totalChanges === totalChanges && recent.dataVersion === this.#dataVersion.get()) return ownCopy(recent.found);
    const { dataVersion, found } = this.#readVersioned(idHash);
    if (!found) {
      this.#recent.delete(idHash);
      return null;
    }
    // Kept and shared by the copies handed out (the user is frozen); each caller gets its own session.
    this.#remember(idHash, { dataVersion, totalChanges, found }, true);
    return ownCopy(found);
  }

  #remember(idHash: string, entry: { dataVersion: number; totalChanges: number; found: SessionWithUser | null }, known: boolean): void {
    if (!known && this.#recent.size >= recentReadsLimit) this.#recent.delete(this.#recent.keys().next().value!);
    this.#recent.set(idHash, entry);
  }

  #readWithUser(idHash: string): SessionWithUser | null {
    const row = this.#getWithUser.get(idHash);
    if (!row) return null;
    const user = row.u_name === null ? null : toUserRecord({
      name: row.u_name,
      roles: row.u_roles!,
      password_hash: row.u_password_hash!,
      locked: row.u_locked!,
      password_reset_required: row.u_password_reset_required!,
      mfa_enabled: row.u_mfa_enabled!,
      created_at: row.u_created_at!,
      last_login_at: row.u_last_login_at,
    });
    // Read-only for callers (the port says so), and shared once kept: frozen, roles included.
    if (user) Object.freeze(Object.freeze(user).roles);
    return { session: toRecord(row), user };
  }

  async touch(idHash: string, lastSeenAt: number): Promise<void> {
    this.#touch.run(lastSeenAt, idHash, lastSeenAt);
  }

  async touchAll(activity: ReadonlyMap<string, number>): Promise<void> {
    if (activity.size > 0) this.#touchAll.immediate(activity);
  }

  async rotate(oldIdHash: string, newIdHash: string, patch: SessionPatch): Promise<Revoked | null> {
    // IMMEDIATE: take the write lock before reading, so two processes rotating the same session
    // serialise instead of both reading it (the second then finds nothing and returns false).
    return this.#rotate.immediate(oldIdHash, newIdHash, patch);
  }

  async delete(idHash: string): Promise<(Revoked & { session: SessionRecord }) | null> {
    return this.#deleteOne.immediate(() => this.#delete.get(idHash));
  }

  async deleteIdle(idHash: string, idleBefore: number): Promise<(Revoked & { session: SessionRecord }) | null> {
    return this.#deleteOne.immediate(() => this.#deleteIdle.get(idHash, idleBefore));
  }

  async deleteByHandle(handle: string): Promise<(Revoked & { session: SessionRecord }) | null> {
    return this.#deleteOne.immediate(() => this.#deleteByHandle.get(handle));
  }

  async deleteByUser(userName: string, exceptIdHash?: string): Promise<Revoked & { count: number }> {
    return this.#deleteMany.immediate('user', userName, exceptIdHash ?? null);
  }

  async deleteAll(): Promise<Revoked & { count: number }> {
    return this.#deleteMany.immediate('all', null, null);
  }

  async logUserChange(userName: string): Promise<Revoked> {
    return { seq: this.#append.get('user', userName)! };
  }

  async list(filter: { userName?: string } = {}): Promise<SessionRecord[]> {
    const rows = filter.userName === undefined ? this.#list.all() : this.#listByUser.all(filter.userName);
    return rows.map(toRecord);
  }

  async purgeExpired(now: number, idleBefore: number): Promise<number> {
    return this.#purge.run(idleBefore, now).changes;
  }

  async countActive(now: number, idleBefore: number): Promise<number> {
    return this.#countActive.get(idleBefore, now) ?? 0;
  }
}

/** Callers may update their session (activity moves lastSeenAt); the kept read stays as stored. */
function ownCopy(found: SessionWithUser): SessionWithUser {
  return { session: { ...found.session }, user: found.user };
}

/** A patch with `undefined` values dropped, so spreading it cannot blank a field. */
function definedOnly(patch: SessionPatch): SessionPatch {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as SessionPatch;
}

function bit(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

function toParams(session: SessionRecord): SessionParams {
  return {
    idHash: session.idHash,
    handle: session.handle,
    userName: session.userName,
    createdAt: session.createdAt,
    lastSeenAt: session.lastSeenAt,
    expiresAt: session.expiresAt,
    ip: session.ip,
    userAgent: session.userAgent,
    passwordResetRequired: bit(session.passwordResetRequired),
    mfaPending: bit(session.mfaPending),
    mfaCompleted: bit(session.mfaCompleted),
  };
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    idHash: row.id_hash,
    handle: row.handle,
    userName: row.user_name,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
    ip: row.ip,
    userAgent: row.user_agent,
    passwordResetRequired: row.password_reset_required === 1,
    mfaPending: row.mfa_pending === 1,
    mfaCompleted: row.mfa_completed === 1,
  };
}
