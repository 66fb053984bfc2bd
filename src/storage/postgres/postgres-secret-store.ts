import type pg from 'pg';
import type { SealedEntry } from '../../secrets/resealable.js';
import { secretAad } from '../../secrets/sealed-values.js';
import type { SecretRecord, SecretStore } from '../../secrets/secret-store.js';
import { toSecretRecord, type SecretRow } from '../rows.js';
import { changed, run, statement, storable } from './queries.js';

const put = statement('secrets_put', `INSERT INTO secrets (name, sealed, updated_at) VALUES ($1, $2, $3)
  ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`);
const get = statement('secrets_get', 'SELECT name, sealed, updated_at FROM secrets WHERE name = $1');
const list = statement('secrets_list', 'SELECT name, sealed, updated_at FROM secrets ORDER BY name');
const remove = statement('secrets_remove', 'DELETE FROM secrets WHERE name = $1');
const listSealed = statement('secrets_list_sealed', 'SELECT name, sealed FROM secrets ORDER BY name');
// Compare-and-set in one statement: a `secret set` that landed since the row was listed wins.
// updated_at stays: the value is the same, only its encryption changed.
const replaceSealed = statement('secrets_replace_sealed', 'UPDATE secrets SET sealed = $3 WHERE name = $1 AND sealed = $2');

/** SecretStore on PostgreSQL. It only ever sees sealed values (secrets/envelope.ts). */
export class PostgresSecretStore implements SecretStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async put(record: SecretRecord): Promise<void> {
    await run(this.#pool, put, [record.name, record.sealed, record.updatedAt]);
  }

  async get(name: string): Promise<SecretRecord | null> {
    if (!storable(name)) return null;
    const row = (await run<SecretRow>(this.#pool, get, [name])).rows[0];
    return row ? toSecretRecord(row) : null;
  }

  async list(): Promise<SecretRecord[]> {
    return (await run<SecretRow>(this.#pool, list)).rows.map(toSecretRecord);
  }

  async remove(name: string): Promise<boolean> {
    if (!storable(name)) return false;
    return changed(await run(this.#pool, remove, [name])) === 1;
  }

  async listSealed(): Promise<SealedEntry[]> {
    return (await run<Pick<SecretRow, 'name' | 'sealed'>>(this.#pool, listSealed)).rows.map((row) => ({ id: row.name, aad: secretAad(row.name), sealed: row.sealed }));
  }

  async replaceSealed(name: string, sealed: string, next: string): Promise<boolean> {
    if (!storable(name)) return false;
    return changed(await run(this.#pool, replaceSealed, [name, sealed, next])) === 1;
  }
}
