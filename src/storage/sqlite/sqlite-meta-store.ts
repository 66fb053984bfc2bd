import type { Database, Statement } from 'better-sqlite3';
import type { Resealable, SealedEntry } from '../../secrets/resealable.js';
import { metaAad, sealedMetaKeys } from '../../secrets/sealed-values.js';
import type { MetaStore } from '../store.js';

/**
 * MetaStore on SQLite: a small key-value table. As a Resealable it offers only the values under
 * `sealedMetaKeys` (the master-key check value), with aad `meta:<key>`; the rest are plain.
 */
export class SqliteMetaStore implements MetaStore, Resealable {
  readonly #get: Statement<[string], { value: string }>;
  readonly #putIfAbsent: Statement<[string, string], { value: string }>;
  readonly #set: Statement<[string, string]>;
  readonly #replaceIf: Statement<[string, string, string]>;

  constructor(db: Database) {
    this.#get = db.prepare('SELECT value FROM meta WHERE key = ?');
    // One statement, so first-writer-wins holds across processes: on conflict the no-op update
    // makes RETURNING yield the row that was already there instead of nothing.
    this.#putIfAbsent = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value`);
    this.#set = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
    this.#replaceIf = db.prepare('UPDATE meta SET value = ? WHERE key = ? AND value = ?');
  }

  async get(key: string): Promise<string | null> {
    return this.#get.get(key)?.value ?? null;
  }

  async putIfAbsent(key: string, value: string): Promise<string> {
    const row = this.#putIfAbsent.get(key, value);
    if (!row) throw new Error('meta putIfAbsent returned no row');
    return row.value;
  }

  async set(key: string, value: string): Promise<void> {
    this.#set.run(key, value);
  }

  async listSealed(): Promise<SealedEntry[]> {
    const entries: SealedEntry[] = [];
    for (const key of sealedMetaKeys) {
      const value = this.#get.get(key)?.value;
      if (value !== undefined) entries.push({ id: key, aad: metaAad(key), sealed: value });
    }
    return entries;
  }

  async replaceSealed(key: string, sealed: string, next: string): Promise<boolean> {
    // Only sealed keys: rotation must never be able to overwrite a plain value.
    if (!sealedMetaKeys.includes(key)) return false;
    return this.#replaceIf.run(next, key, sealed).changes === 1;
  }
}
