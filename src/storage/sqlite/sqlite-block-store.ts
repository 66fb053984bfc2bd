import type { Database, Statement } from 'better-sqlite3';
import type { Block, BlockedBy, BlockStore } from '../../rules/block-store.js';

/**
 * BlockStore on SQLite: one row per rule and key in `rule_blocks`, shared by every process on the
 * file. Each verb is one statement, so each is atomic across processes without a transaction.
 *
 * No cache: `blockedUntil` runs on every request that some blocking rule could refuse, and is one
 * read of the (by, key, until) index (~3 µs measured here; checking `PRAGMA data_version` to reuse
 * an earlier answer costs ~2 µs, too little saved for a cache that must never miss a removal). So
 * a block set or lifted by any process is seen by the very next request.
 */
export class SqliteBlockStore implements BlockStore {
  readonly #add: Statement<[Block]>;
  readonly #blockedUntil: Statement<[BlockedBy, string, number], number | null>;
  readonly #list: Statement<[number], Block>;
  readonly #remove: Statement<[string, string], Block>;
  readonly #purge: Statement<[number]>;

  constructor(db: Database) {
    // The later end wins within one statement, whichever process writes first. A row left by a
    // rule that counted another kind of key (its `by` changed in the configuration) is replaced:
    // its end says nothing about the new kind.
    this.#add = db.prepare(`INSERT INTO rule_blocks (rule, by, key, until) VALUES (@rule, @by, @key, @until)
      ON CONFLICT (rule, key) DO UPDATE SET by = excluded.by,
        until = CASE WHEN rule_blocks.by = excluded.by THEN max(rule_blocks.until, excluded.until) ELSE excluded.until END`);
    this.#blockedUntil = db.prepare<[BlockedBy, string, number], number | null>('SELECT max(until) FROM rule_blocks WHERE by = ? AND key = ? AND until > ?').pluck();
    this.#list = db.prepare('SELECT rule, by, key, until FROM rule_blocks WHERE until > ? ORDER BY rule, by, key');
    this.#remove = db.prepare('DELETE FROM rule_blocks WHERE rule = ? AND key = ? RETURNING rule, by, key, until');
    this.#purge = db.prepare('DELETE FROM rule_blocks WHERE until <= ?');
  }

  async add(block: Block): Promise<void> {
    this.#add.run({ rule: block.rule, by: block.by, key: block.key, until: block.until });
  }

  async blockedUntil(by: BlockedBy, key: string, now: number): Promise<number | null> {
    return this.#blockedUntil.get(by, key, now) ?? null;
  }

  async list(now: number): Promise<Block[]> {
    return this.#list.all(now);
  }

  async remove(rule: string, key: string, now: number): Promise<Block | null> {
    // An ended block still stored is deleted too (as the purge would), but it was not active: null.
    const removed = this.#remove.get(rule, key);
    return removed && removed.until > now ? removed : null;
  }

  async purge(now: number): Promise<number> {
    return this.#purge.run(now).changes;
  }
}
