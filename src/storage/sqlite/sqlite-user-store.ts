import type { Database, Statement } from 'better-sqlite3';
import type { UserPatch, UserRecord, UserStore } from '../../accounts/user-store.js';

export interface UserRow {
  name: string;
  roles: string;
  password_hash: string;
  locked: number;
  password_reset_required: number;
  mfa_enabled: number;
  created_at: number;
  last_login_at: number | null;
}

/** The users table's columns, in UserRow's order (exported for the session store's joined read). */
export const userColumns = ['name', 'roles', 'password_hash', 'locked', 'password_reset_required', 'mfa_enabled', 'created_at', 'last_login_at'] as const;
const columns = userColumns.join(', ');

/** UserStore on SQLite. Statements are compiled once, here, and reused for every call. */
export class SqliteUserStore implements UserStore {
  readonly #insert: Statement;
  readonly #get: Statement<[string], UserRow>;
  readonly #list: Statement<[], UserRow>;
  readonly #update: Statement;
  readonly #remove: Statement<[string]>;

  constructor(db: Database) {
    // ON CONFLICT DO NOTHING makes create-if-absent one atomic statement: no get-then-insert race.
    this.#insert = db.prepare(`INSERT INTO users (${columns})
      VALUES (@name, @roles, @passwordHash, @locked, @passwordResetRequired, @mfaEnabled, @createdAt, @lastLoginAt)
      ON CONFLICT (name) DO NOTHING`);
    this.#get = db.prepare(`SELECT ${columns} FROM users WHERE name = ?`);
    this.#list = db.prepare(`SELECT ${columns} FROM users ORDER BY name`);
    // One statement for every patch shape: each column keeps its value unless its flag is set.
    this.#update = db.prepare(`UPDATE users SET
      roles = IIF(@setRoles, @roles, roles),
      password_hash = IIF(@setPasswordHash, @passwordHash, password_hash),
      locked = IIF(@setLocked, @locked, locked),
      password_reset_required = IIF(@setPasswordResetRequired, @passwordResetRequired, password_reset_required),
      mfa_enabled = IIF(@setMfaEnabled, @mfaEnabled, mfa_enabled),
      last_login_at = IIF(@setLastLoginAt, @lastLoginAt, last_login_at)
      WHERE name = @name`);
    this.#remove = db.prepare('DELETE FROM users WHERE name = ?');
  }

  async create(user: UserRecord): Promise<boolean> {
    const result = this.#insert.run({
      name: user.name,
      roles: JSON.stringify(user.roles),
      passwordHash: user.passwordHash,
      locked: bit(user.locked),
      passwordResetRequired: bit(user.passwordResetRequired),
      mfaEnabled: bit(user.mfaEnabled),
      createdAt: user.createdAt,
      lastLoginAt: user.lastLoginAt,
    });
    return result.changes === 1;
  }

  async get(name: string): Promise<UserRecord | null> {
    const row = this.#get.get(name);
    return row ? toUserRecord(row) : null;
  }

  async list(): Promise<UserRecord[]> {
    return this.#list.all().map(toUserRecord);
  }

  async update(name: string, patch: UserPatch): Promise<boolean> {
    const result = this.#update.run({
      name,
      setRoles: bit(patch.roles !== undefined),
      roles: patch.roles === undefined ? null : JSON.stringify(patch.roles),
      setPasswordHash: bit(patch.passwordHash !== undefined),
      passwordHash: patch.passwordHash ?? null,
      setLocked: bit(patch.locked !== undefined),
      locked: optionalBit(patch.locked),
      setPasswordResetRequired: bit(patch.passwordResetRequired !== undefined),
      passwordResetRequired: optionalBit(patch.passwordResetRequired),
      setMfaEnabled: bit(patch.mfaEnabled !== undefined),
      mfaEnabled: optionalBit(patch.mfaEnabled),
      setLastLoginAt: bit(patch.lastLoginAt !== undefined),
      lastLoginAt: patch.lastLoginAt ?? null,
    });
    return result.changes === 1;
  }

  async remove(name: string): Promise<boolean> {
    return this.#remove.run(name).changes === 1;
  }
}

function bit(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

function optionalBit(value: boolean | undefined): 0 | 1 | null {
  return value === undefined ? null : bit(value);
}

export function toUserRecord(row: UserRow): UserRecord {
  return {
    name: row.name,
    roles: JSON.parse(row.roles) as string[],
    passwordHash: row.password_hash,
    locked: row.locked === 1,
    passwordResetRequired: row.password_reset_required === 1,
    mfaEnabled: row.mfa_enabled === 1,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  };
}
