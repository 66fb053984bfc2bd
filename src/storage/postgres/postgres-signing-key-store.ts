import type pg from 'pg';
import type { SealedEntry } from '../../secrets/resealable.js';
import { signingKeyAad, type NewSigningKey, type SigningKeyRecord, type SigningKeyStore } from '../../trust/signing-key-store.js';
import { toSigningKeyRecord, type SigningKeyRow } from '../rows.js';
import { changed, run, statement, storable, transaction } from './queries.js';

const columns = 'kid, sealed_private_key, created_at, retired_at, published_until';

// Of racing first starts, every one may find no active key, but the partial unique index
// signing_keys_one_active (migration 3) admits one insert: the others wait for it to commit, then
// meet the conflict, which DO NOTHING turns into "0 rows" rather than an error.
const addFirst = statement('signing_keys_add_first', `INSERT INTO signing_keys (kid, sealed_private_key, created_at, retired_at, published_until)
  SELECT $1, $2, $3, NULL, NULL
  WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
  ON CONFLICT DO NOTHING`);
const list = statement('signing_keys_list', `SELECT ${columns} FROM signing_keys
  ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid`);
const purge = statement('signing_keys_purge', 'DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND published_until <= $1');
const listSealed = statement('signing_keys_list_sealed', 'SELECT kid, sealed_private_key FROM signing_keys ORDER BY kid');
const replaceSealed = statement('signing_keys_replace_sealed', 'UPDATE signing_keys SET sealed_private_key = $3 WHERE kid = $1 AND sealed_private_key = $2');
const retire = statement('signing_keys_retire', 'UPDATE signing_keys SET retired_at = $1, published_until = $2 WHERE retired_at IS NULL RETURNING kid');
const insert = statement('signing_keys_insert', `INSERT INTO signing_keys (kid, sealed_private_key, created_at, retired_at, published_until)
  VALUES ($1, $2, $3, NULL, NULL)`);

/**
 * SigningKeyStore on PostgreSQL. Which key is active is decided by one statement (addFirst) or one
 * transaction that first locks the table against other writers (rotate), never by a read whose
 * answer a concurrent writer could change; the partial unique index makes two active keys impossible
 * regardless.
 */
export class PostgresSigningKeyStore implements SigningKeyStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async addFirst(key: NewSigningKey): Promise<boolean> {
    return changed(await run(this.#pool, addFirst, [key.kid, key.sealedPrivateKey, key.createdAt])) === 1;
  }

  async rotate(key: NewSigningKey, publishedUntil: number): Promise<string[]> {
    if (publishedUntil < key.createdAt) throw new RangeError('publishedUntil must not be before the new key is created');
    return transaction(this.#pool, async (client) => {
      // SHARE ROW EXCLUSIVE conflicts with itself and with every row write, not with reads: two
      // rotations (or a rotation and a first start) run one after the other, and the retire below,
      // a statement begun after the lock, sees the key the previous rotation made active. Under
      // READ COMMITTED without it, the later rotation would find nothing active to retire and
      // fail on the unique index.
      await client.query('LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE');
      const retired = (await run<{ kid: string }>(client, retire, [key.createdAt, publishedUntil])).rows.map((row) => row.kid);
      await run(client, insert, [key.kid, key.sealedPrivateKey, key.createdAt]);
      return retired;
    });
  }

  async list(): Promise<SigningKeyRecord[]> {
    return (await run<SigningKeyRow>(this.#pool, list)).rows.map(toSigningKeyRecord);
  }

  async purge(now: number): Promise<number> {
    return changed(await run(this.#pool, purge, [now]));
  }

  async listSealed(): Promise<SealedEntry[]> {
    const rows = (await run<Pick<SigningKeyRow, 'kid' | 'sealed_private_key'>>(this.#pool, listSealed)).rows;
    return rows.map((row) => ({ id: row.kid, aad: signingKeyAad(row.kid), sealed: row.sealed_private_key }));
  }

  async replaceSealed(id: string, sealed: string, next: string): Promise<boolean> {
    if (!storable(id)) return false;
    return changed(await run(this.#pool, replaceSealed, [id, sealed, next])) === 1;
  }
}
