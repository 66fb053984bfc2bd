import type { Database, Statement, Transaction } from 'better-sqlite3';
import type { SealedEntry } from '../../secrets/resealable.js';
import { signingKeyAad, type NewSigningKey, type SigningKeyRecord, type SigningKeyStore } from '../../trust/signing-key-store.js';
import { toSigningKeyRecord, type SigningKeyRow } from '../rows.js';

const columns = 'kid, sealed_private_key, created_at, retired_at, published_until';

/**
 * SigningKeyStore on SQLite. Which key is active is decided by single statements (or one IMMEDIATE
 * transaction) under the file's write lock, never a read followed by a write; the partial unique
 * index `signing_keys_one_active` (migration 4) makes a second active key impossible regardless.
 */
export class SqliteSigningKeyStore implements SigningKeyStore {
  readonly #addFirst: Statement<[NewSigningKeyRow]>;
  readonly #list: Statement<[], SigningKeyRow>;
  readonly #purge: Statement<[number]>;
  readonly #listSealed: Statement<[], Pick<SigningKeyRow, 'kid' | 'sealed_private_key'>>;
  readonly #replaceSealed: Statement<[string, string, string]>;
  readonly #rotate: Transaction<(row: NewSigningKeyRow, publishedUntil: number) => string[]>;

  constructor(db: Database) {
    // One statement: the NOT EXISTS and the insert run under one write lock, so of racing first
    // starts exactly one inserts. ON CONFLICT DO NOTHING turns a lost race on the unique index
    // into `changes = 0` rather than an error.
    this.#addFirst = db.prepare(`INSERT INTO signing_keys (kid, sealed_private_key, created_at, retired_at, published_until)
      SELECT @kid, @sealed_private_key, @created_at, NULL, NULL
      WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
      ON CONFLICT DO NOTHING`);
    this.#list = db.prepare(`SELECT ${columns} FROM signing_keys
      ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid`);
    this.#purge = db.prepare('DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND published_until <= ?');
    this.#listSealed = db.prepare('SELECT kid, sealed_private_key FROM signing_keys ORDER BY kid');
    this.#replaceSealed = db.prepare('UPDATE signing_keys SET sealed_private_key = ? WHERE kid = ? AND sealed_private_key = ?');

    const activeKids = db.prepare<[], string>('SELECT kid FROM signing_keys WHERE retired_at IS NULL').pluck();
    const retire = db.prepare<[number, number]>('UPDATE signing_keys SET retired_at = ?, published_until = ? WHERE retired_at IS NULL');
    const insert = db.prepare<[NewSigningKeyRow]>(`INSERT INTO signing_keys (kid, sealed_private_key, created_at, retired_at, published_until)
      VALUES (@kid, @sealed_private_key, @created_at, NULL, NULL)`);
    this.#rotate = db.transaction((row: NewSigningKeyRow, publishedUntil: number): string[] => {
      const retired = activeKids.all();
      retire.run(row.created_at, publishedUntil);
      insert.run(row);
      return retired;
    });
  }

  async addFirst(key: NewSigningKey): Promise<boolean> {
    return this.#addFirst.run(toRow(key)).changes === 1;
  }

  async rotate(key: NewSigningKey, publishedUntil: number): Promise<string[]> {
    if (publishedUntil < key.createdAt) throw new RangeError('publishedUntil must not be before the new key is created');
    // IMMEDIATE: the write lock is taken before the active key is read (see migrations.ts on
    // SQLITE_BUSY_SNAPSHOT), so two rotations serialise instead of one failing.
    return this.#rotate.immediate(toRow(key), publishedUntil);
  }

  async list(): Promise<SigningKeyRecord[]> {
    return this.#list.all().map(toSigningKeyRecord);
  }

  async purge(now: number): Promise<number> {
    return this.#purge.run(now).changes;
  }

  async listSealed(): Promise<SealedEntry[]> {
    return this.#listSealed.all().map((row) => ({ id: row.kid, aad: signingKeyAad(row.kid), sealed: row.sealed_private_key }));
  }

  async replaceSealed(id: string, sealed: string, next: string): Promise<boolean> {
    return this.#replaceSealed.run(next, id, sealed).changes === 1;
  }
}

type NewSigningKeyRow = Pick<SigningKeyRow, 'kid' | 'sealed_private_key' | 'created_at'>;

function toRow(key: NewSigningKey): NewSigningKeyRow {
  return { kid: key.kid, sealed_private_key: key.sealedPrivateKey, created_at: key.createdAt };
}
