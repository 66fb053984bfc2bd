import type { Database, Statement } from 'better-sqlite3';
import type { SealedEntry } from '../../secrets/resealable.js';
import { secretAad } from '../../secrets/sealed-values.js';
import type { SecretRecord, SecretStore } from '../../secrets/secret-store.js';
import { toSecretRecord, type SecretRow } from '../rows.js';

/** SecretStore on SQLite. It only ever sees sealed values (secrets/envelope.ts). */
export class SqliteSecretStore implements SecretStore {
  readonly #put: Statement<[SecretRow]>;
  readonly #get: Statement<[string], SecretRow>;
  readonly #list: Statement<[], SecretRow>;
  readonly #remove: Statement<[string]>;
  readonly #listSealed: Statement<[], { name: string; sealed: string }>;
  readonly #replaceSealed: Statement<[string, string, string]>;

  constructor(db: Database) {
    this.#put = db.prepare(`INSERT INTO secrets (name, sealed, updated_at) VALUES (@name, @sealed, @updated_at)
      ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`);
    this.#get = db.prepare('SELECT name, sealed, updated_at FROM secrets WHERE name = ?');
    this.#list = db.prepare('SELECT name, sealed, updated_at FROM secrets ORDER BY name');
    this.#remove = db.prepare('DELETE FROM secrets WHERE name = ?');
    this.#listSealed = db.prepare('SELECT name, sealed FROM secrets ORDER BY name');
    // Compare-and-set in one statement: a `secret set` that landed since the row was listed wins.
    // updated_at stays: the value is the same, only its encryption changed.
    this.#replaceSealed = db.prepare('UPDATE secrets SET sealed = ? WHERE name = ? AND sealed = ?');
  }

  async put(record: SecretRecord): Promise<void> {
    this.#put.run({ name: record.name, sealed: record.sealed, updated_at: record.updatedAt });
  }

  async get(name: string): Promise<SecretRecord | null> {
    const row = this.#get.get(name);
    return row ? toSecretRecord(row) : null;
  }

  async list(): Promise<SecretRecord[]> {
    return this.#list.all().map(toSecretRecord);
  }

  async remove(name: string): Promise<boolean> {
    return this.#remove.run(name).changes === 1;
  }

  async listSealed(): Promise<SealedEntry[]> {
    return this.#listSealed.all().map((row) => ({ id: row.name, aad: secretAad(row.name), sealed: row.sealed }));
  }

  async replaceSealed(name: string, sealed: string, next: string): Promise<boolean> {
    return this.#replaceSealed.run(next, name, sealed).changes === 1;
  }
}
