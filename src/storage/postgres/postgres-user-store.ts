import type pg from 'pg';
import type { UserPatch, UserRecord, UserStore } from '../../accounts/user-store.js';
import { changed, run, statement, storable } from './queries.js';

export interface UserRow {
  name: string;
  roles: string[];
  password_hash: string;
  locked: boolean;
  password_reset_required: boolean;
  mfa_enabled: boolean;
  created_at: number;
  last_login_at: number | null;
}

/** The users table's columns, in UserRow's order (exported for the session store's joined read). */
export const userColumns = ['name', 'roles', 'password_hash', 'locked', 'password_reset_required', 'mfa_enabled', 'created_at', 'last_login_at'] as const;
const columns = userColumns.join(', ');

// ON CONFLICT DO NOTHING makes create-if-absent one atomic statement: of racing creates, one inserts.
const insert = statement('users_insert', `INSERT INTO users (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (name) DO NOTHING`);
const get = statement('users_get', `SELECT ${columns} FROM users WHERE name = $1`);
const list = statement('users_list', `SELECT ${columns} FROM users ORDER BY name`);
// One statement for every patch shape: a column keeps its value unless its flag ($n) is set.
const update = statement('users_update', `UPDATE users SET
  roles = CASE WHEN $2::boolean THEN $3::text[] ELSE roles END,
  password_hash = CASE WHEN $4::boolean THEN $5::text ELSE password_hash END,
  locked = CASE WHEN $6::boolean THEN $7::boolean ELSE locked END,
  password_reset_required = CASE WHEN $8::boolean THEN $9::boolean ELSE password_reset_required END,
  mfa_enabled = CASE WHEN $10::boolean THEN $11::boolean ELSE mfa_enabled END,
  last_login_at = CASE WHEN $12::boolean THEN $13::bigint ELSE last_login_at END
  WHERE name = $1`);
const remove = statement('users_remove', 'DELETE FROM users WHERE name = $1');

/**
 * UserStore on PostgreSQL: each verb is one statement. A name PostgreSQL cannot hold (a NUL
 * character: text refuses it) names no user, so reading one answers null rather than failing.
 */
export class PostgresUserStore implements UserStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async create(user: UserRecord): Promise<boolean> {
    const result = await run(this.#pool, insert, [
      user.name, user.roles, user.passwordHash, user.locked, user.passwordResetRequired, user.mfaEnabled, user.createdAt, user.lastLoginAt,
    ]);
    return changed(result) === 1;
  }

  async get(name: string): Promise<UserRecord | null> {
    if (!storable(name)) return null;
    const row = (await run<UserRow>(this.#pool, get, [name])).rows[0];
    return row ? toUserRecord(row) : null;
  }

  async list(): Promise<UserRecord[]> {
    return (await run<UserRow>(this.#pool, list)).rows.map(toUserRecord);
  }

  async update(name: string, patch: UserPatch): Promise<boolean> {
    if (!storable(name)) return false;
    const result = await run(this.#pool, update, [
      name,
      patch.roles !== undefined, patch.roles ?? null,
      patch.passwordHash !== undefined, patch.passwordHash ?? null,
      patch.locked !== undefined, patch.locked ?? null,
      patch.passwordResetRequired !== undefined, patch.passwordResetRequired ?? null,
      patch.mfaEnabled !== undefined, patch.mfaEnabled ?? null,
      patch.lastLoginAt !== undefined, patch.lastLoginAt ?? null,
    ]);
    return changed(result) === 1;
  }

  async remove(name: string): Promise<boolean> {
    if (!storable(name)) return false;
    return changed(await run(this.#pool, remove, [name])) === 1;
  }
}

export function toUserRecord(row: UserRow): UserRecord {
  return {
    name: row.name,
    roles: row.roles,
    passwordHash: row.password_hash,
    locked: row.locked,
    passwordResetRequired: row.password_reset_required,
    mfaEnabled: row.mfa_enabled,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  };
}
