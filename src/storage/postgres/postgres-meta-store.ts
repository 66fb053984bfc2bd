import type pg from 'pg';
import type { Resealable, SealedEntry } from '../../secrets/resealable.js';
import { metaAad, sealedMetaKeys } from '../../secrets/sealed-values.js';
import type { MetaStore } from '../store.js';
import { changed, run, statement, storable } from './queries.js';

const get = statement('meta_get', 'SELECT value FROM meta WHERE key = $1');
// One statement, so first-writer-wins holds across nodes: on conflict the no-op update locks the row
// that is there and RETURNING yields it, instead of nothing.
const putIfAbsent = statement('meta_put_if_absent', `INSERT INTO meta (key, value) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value`);
const set = statement('meta_set', `INSERT INTO meta (key, value) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
const replaceIf = statement('meta_replace_if', 'UPDATE meta SET value = $3 WHERE key = $1 AND value = $2');

/**
 * MetaStore on PostgreSQL: a small key-value table. As a Resealable it offers only the values under
 * `sealedMetaKeys` (the master-key check value), with aad `meta:<key>`; the rest are plain.
 */
export class PostgresMetaStore implements MetaStore, Resealable {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async get(key: string): Promise<string | null> {
    if (!storable(key)) return null;
    return (await run<{ value: string }>(this.#pool, get, [key])).rows[0]?.value ?? null;
  }

  async putIfAbsent(key: string, value: string): Promise<string> {
    const row = (await run<{ value: string }>(this.#pool, putIfAbsent, [key, value])).rows[0];
    if (!row) throw new Error('meta putIfAbsent returned no row');
    return row.value;
  }

  async set(key: string, value: string): Promise<void> {
    await run(this.#pool, set, [key, value]);
  }

  async listSealed(): Promise<SealedEntry[]> {
    const entries: SealedEntry[] = [];
    for (const key of sealedMetaKeys) {
      const value = await this.get(key);
      if (value !== null) entries.push({ id: key, aad: metaAad(key), sealed: value });
    }
    return entries;
  }

  async replaceSealed(key: string, sealed: string, next: string): Promise<boolean> {
    // Only sealed keys: rotation must never be able to overwrite a plain value.
    if (!sealedMetaKeys.includes(key)) return false;
    return changed(await run(this.#pool, replaceIf, [key, sealed, next])) === 1;
  }
}
