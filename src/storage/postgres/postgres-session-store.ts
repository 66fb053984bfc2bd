import type pg from 'pg';
import type { UserRecord } from '../../accounts/user-store.js';
import type { Revoked, SessionPatch, SessionRecord, SessionStore } from '../../sessions/session-store.js';
import { appendRevocation, lockRevocationLog, PostgresRevocationLog } from './postgres-revocation-log.js';
import { changed, run, statement, storable, transaction } from './queries.js';
import { toUserRecord, userColumns, type UserRow } from './postgres-user-store.js';

interface SessionRow {
  id_hash: string;
  handle: string;
  user_name: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ip: string;
  user_agent: string;
  password_reset_required: boolean;
  mfa_pending: boolean;
  mfa_completed: boolean;
}

const columnList = ['id_hash', 'handle', 'user_name', 'created_at', 'last_seen_at', 'expires_at', 'ip', 'user_agent', 'password_reset_required', 'mfa_pending', 'mfa_completed'];
const columns = columnList.join(', ');

/** The user's columns in the joined read, prefixed so they cannot clash with the session's. */
const joinedUserColumns = userColumns.map((column) => `u.${column} AS u_${column}`).join(', ');
type JoinedRow = SessionRow & { [K in keyof UserRow as `u_${K}`]: UserRow[K] | null };

type SessionWithUser = { session: SessionRecord; user: UserRecord | null };

const insert = statement('sessions_insert', `INSERT INTO sessions (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`);
const get = statement('sessions_get', `SELECT ${columns} FROM sessions WHERE id_hash = $1`);
// Every proxied request: one round trip, two primary-key lookups.
const getWithUser = statement('sessions_get_with_user', `SELECT ${columnList.map((c) => `s.${c}`).join(', ')}, ${joinedUserColumns}
  FROM sessions s LEFT JOIN users u ON u.name = s.user_name WHERE s.id_hash = $1`);
// The WHERE clause keeps lastSeenAt monotonic under concurrent requests: a row another node moved
// further meanwhile is re-checked on its newest version (READ COMMITTED) and left alone.
const touch = statement('sessions_touch', 'UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2');
// Rows are locked in id_hash order before any is written, as deleteByUser and the purge lock them:
// two nodes flushing overlapping batches (a user's requests spread over both) then queue instead of
// deadlocking, which would cost one of them a second (deadlock_timeout) and its batch.
const touchAll = statement('sessions_touch_all', `WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::bigint[]) AS b(id_hash, at)
  ), locked AS (
    SELECT s.id_hash FROM sessions s JOIN batch b ON b.id_hash = s.id_hash
    WHERE s.last_seen_at < b.at ORDER BY s.id_hash FOR UPDATE OF s
  )
  UPDATE sessions s SET last_seen_at = b.at FROM batch b
  WHERE s.id_hash = b.id_hash AND s.last_seen_at < b.at AND s.id_hash IN (SELECT id_hash FROM locked)`);
// An UPDATE of the key, not a delete and an insert: a concurrent deleteByUser that meets the row
// follows it to its new version and deletes that (READ COMMITTED re-checks the newest version of a
// row it had to wait for), so a rotation racing a revocation never leaves the new id behind. Of two
// rotations racing, the second re-checks `id_hash = $1` on the rotated row and changes nothing.
const rotate = statement('sessions_rotate', `UPDATE sessions SET id_hash = $2,
  password_reset_required = COALESCE($3::boolean, password_reset_required),
  mfa_pending = COALESCE($4::boolean, mfa_pending),
  mfa_completed = COALESCE($5::boolean, mfa_completed)
  WHERE id_hash = $1 RETURNING handle`);
const remove = statement('sessions_delete', `DELETE FROM sessions WHERE id_hash = $1 RETURNING ${columns}`);
const removeIdle = statement('sessions_delete_idle', `DELETE FROM sessions WHERE id_hash = $1 AND last_seen_at < $2 RETURNING ${columns}`);
const removeByHandle = statement('sessions_delete_by_handle', `DELETE FROM sessions WHERE handle = $1 RETURNING ${columns}`);
// deleteByUser and deleteAll: lock in id_hash order first (see touchAll), then delete with a fresh
// snapshot, which sees every session committed meanwhile (a rotation's new id included).
const lockByUser = statement('sessions_lock_by_user', 'SELECT id_hash FROM sessions WHERE user_name = $1 ORDER BY id_hash FOR UPDATE');
const removeByUser = statement('sessions_delete_by_user', 'DELETE FROM sessions WHERE user_name = $1 AND id_hash IS DISTINCT FROM $2');
const lockAll = statement('sessions_lock_all', 'SELECT id_hash FROM sessions ORDER BY id_hash FOR UPDATE');
const removeAll = statement('sessions_delete_all', 'DELETE FROM sessions');
const list = statement('sessions_list', `SELECT ${columns} FROM sessions ORDER BY created_at DESC, seq DESC`);
const listByUser = statement('sessions_list_by_user', `SELECT ${columns} FROM sessions WHERE user_name = $1 ORDER BY created_at DESC, seq DESC`);

/**
 * Idle since before $1 or past absolute expiry at $2; each side of the OR has its index. Locked in
 * id_hash order (see touchAll); a session touched meanwhile is re-checked and kept. Exported so a
 * test can check its plan.
 */
export const purgeSql = `DELETE FROM sessions WHERE id_hash IN (
  SELECT id_hash FROM sessions WHERE last_seen_at < $1 OR expires_at <= $2 ORDER BY id_hash FOR UPDATE)`;
const purge = statement('sessions_purge', purgeSql);
const countActive = statement('sessions_count_active', 'SELECT count(*)::int AS n FROM sessions WHERE last_seen_at >= $1 AND expires_at > $2');

/**
 * SessionStore on PostgreSQL. Reads and activity are one statement each; every deletion that revokes
 * (and rotate) is one transaction with its revocation log entry. No read is kept between calls: the session memory that
 * spares the store most reads comes with the cluster work (SPEC §8, "Speed").
 */
export class PostgresSessionStore implements SessionStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async create(session: SessionRecord): Promise<void> {
    await run(this.#pool, insert, [
      session.idHash, session.handle, session.userName, session.createdAt, session.lastSeenAt, session.expiresAt,
      session.ip, session.userAgent, session.passwordResetRequired, session.mfaPending, session.mfaCompleted,
    ]);
  }

  async get(idHash: string): Promise<SessionRecord | null> {
    if (!storable(idHash)) return null;
    const row = (await run<SessionRow>(this.#pool, get, [idHash])).rows[0];
    return row ? toRecord(row) : null;
  }

  async getWithUser(idHash: string): Promise<SessionWithUser | null> {
    if (!storable(idHash)) return null;
    const row = (await run<JoinedRow>(this.#pool, getWithUser, [idHash])).rows[0];
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
    // Read-only for callers (the port says so): frozen, roles included, as the SQLite adapter's.
    if (user) Object.freeze(Object.freeze(user).roles);
    return { session: toRecord(row), user };
  }

  async touch(idHash: string, lastSeenAt: number): Promise<void> {
    if (!storable(idHash)) return;
    await run(this.#pool, touch, [idHash, lastSeenAt]);
  }

  async touchAll(activity: ReadonlyMap<string, number>): Promise<void> {
    const entries = [...activity].filter(([idHash]) => storable(idHash));
    if (entries.length === 0) return;
    await run(this.#pool, touchAll, [entries.map(([idHash]) => idHash), entries.map(([, at]) => at)]);
  }

  // Every deletion that revokes is one transaction with its log entry, which takes the log's lock
  // first (postgres-revocation-log.ts): before any row lock, so revokers queue on it and never
  // deadlock with each other over sessions.

  async rotate(oldIdHash: string, newIdHash: string, patch: SessionPatch): Promise<Revoked | null> {
    if (!storable(oldIdHash)) return null;
    return transaction(this.#pool, async (client) => {
      await run(client, lockRevocationLog);
      const row = (await run<{ handle: string }>(client, rotate, [
        oldIdHash, newIdHash, patch.passwordResetRequired ?? null, patch.mfaPending ?? null, patch.mfaCompleted ?? null,
      ])).rows[0];
      return row ? { seq: await appendRevocation(client, 'session', row.handle) } : null;
    });
  }

  async delete(idHash: string): Promise<(Revoked & { session: SessionRecord }) | null> {
    if (!storable(idHash)) return null;
    return this.#deleteOne(remove, [idHash]);
  }

  async deleteIdle(idHash: string, idleBefore: number): Promise<(Revoked & { session: SessionRecord }) | null> {
    if (!storable(idHash)) return null;
    return this.#deleteOne(removeIdle, [idHash, idleBefore]);
  }

  async deleteByHandle(handle: string): Promise<(Revoked & { session: SessionRecord }) | null> {
    if (!storable(handle)) return null;
    return this.#deleteOne(removeByHandle, [handle]);
  }

  #deleteOne(sql: typeof remove, params: unknown[]): Promise<(Revoked & { session: SessionRecord }) | null> {
    return transaction(this.#pool, async (client) => {
      await run(client, lockRevocationLog);
      const row = (await run<SessionRow>(client, sql, params)).rows[0];
      return row ? { session: toRecord(row), seq: await appendRevocation(client, 'session', row.handle) } : null;
    });
  }

  async deleteByUser(userName: string, exceptIdHash?: string): Promise<Revoked & { count: number }> {
    // A name PostgreSQL cannot hold names no user, and the log could not hold it either.
    if (!storable(userName)) return { count: 0, seq: await new PostgresRevocationLog(this.#pool).latestSeq() };
    return transaction(this.#pool, async (client) => {
      await run(client, lockRevocationLog);
      await run(client, lockByUser, [userName]);
      // An id PostgreSQL cannot hold matches no row: sparing it spares nothing.
      const spared = exceptIdHash !== undefined && storable(exceptIdHash) ? exceptIdHash : null;
      const count = changed(await run(client, removeByUser, [userName, spared]));
      return { count, seq: await appendRevocation(client, 'user', userName) };
    });
  }

  async deleteAll(): Promise<Revoked & { count: number }> {
    return transaction(this.#pool, async (client) => {
      await run(client, lockRevocationLog);
      await run(client, lockAll);
      const count = changed(await run(client, removeAll));
      return { count, seq: await appendRevocation(client, 'all', null) };
    });
  }

  async logUserChange(userName: string): Promise<Revoked> {
    if (!storable(userName)) return { seq: await new PostgresRevocationLog(this.#pool).latestSeq() };
    return transaction(this.#pool, async (client) => {
      await run(client, lockRevocationLog);
      return { seq: await appendRevocation(client, 'user', userName) };
    });
  }

  async list(filter: { userName?: string } = {}): Promise<SessionRecord[]> {
    if (filter.userName !== undefined && !storable(filter.userName)) return [];
    const result = filter.userName === undefined ? await run<SessionRow>(this.#pool, list) : await run<SessionRow>(this.#pool, listByUser, [filter.userName]);
    return result.rows.map(toRecord);
  }

  async purgeExpired(now: number, idleBefore: number): Promise<number> {
    return changed(await run(this.#pool, purge, [idleBefore, now]));
  }

  async countActive(now: number, idleBefore: number): Promise<number> {
    return (await run<{ n: number }>(this.#pool, countActive, [idleBefore, now])).rows[0]?.n ?? 0;
  }
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
    passwordResetRequired: row.password_reset_required,
    mfaPending: row.mfa_pending,
    mfaCompleted: row.mfa_completed,
  };
}
