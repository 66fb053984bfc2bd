import type { Database, Statement } from 'better-sqlite3';
import type { MetaStore } from '../store.js';

/** MetaStore on SQLite: a small key-value table. */
export class SqliteMetaStore implements MetaStore {
  readonly #get: Statement<[string], { value: string }>;
  readonly #putIfAbsent: Statement<[string, string], { value: string }>;
  readonly #set: Statement<[string, string]>;

  constructor(db: Database) {
    this.#get = db.prepare('SELECT value FROM meta WHERE key = ?');
    // One statement, so first-writer-wins holds across processes: on conflict the no-op update
    // makes RETURNING yield the row that was already there instead of nothing.
    this.#putIfAbsent = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value`);
    this.#set = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
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
}
