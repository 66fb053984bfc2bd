import type pg from 'pg';
import type { Block, BlockedBy, BlockStore } from '../../rules/block-store.js';
import { changed, run, statement, storable } from './queries.js';

// The later end wins in one statement, whoever writes first: ON CONFLICT takes the row lock, so two
// nodes adding to one rule and key serialise. A row left by a rule that counted another kind of key
// (its `by` changed in the configuration) is replaced, as in the SQLite store.
const add = statement('blocks_add', `INSERT INTO rule_blocks (rule, by, key, until) VALUES ($1, $2, $3, $4)
  ON CONFLICT (rule, key) DO UPDATE SET by = excluded.by,
    until = CASE WHEN rule_blocks.by = excluded.by THEN greatest(rule_blocks.until, excluded.until) ELSE excluded.until END`);
const blockedUntil = statement('blocks_blocked_until', 'SELECT max(until) AS until FROM rule_blocks WHERE by = $1 AND key = $2 AND until > $3');
const list = statement('blocks_list', 'SELECT rule, by, key, until FROM rule_blocks WHERE until > $1 ORDER BY rule, by, key');
const remove = statement('blocks_remove', 'DELETE FROM rule_blocks WHERE rule = $1 AND key = $2 RETURNING rule, by, key, until');
const purge = statement('blocks_purge', 'DELETE FROM rule_blocks WHERE until <= $1');

/**
 * BlockStore on PostgreSQL (`rule_blocks`, migration 4): shared by every node, so a block set on one
 * is enforced by all and `gatehouse block remove` lifts it everywhere on the very next request. Each
 * verb is one statement, atomic without an explicit transaction.
 */
export class PostgresBlockStore implements BlockStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async add(block: Block): Promise<void> {
    await run(this.#pool, add, [block.rule, block.by, block.key, block.until]);
  }

  async blockedUntil(by: BlockedBy, key: string, now: number): Promise<number | null> {
    if (!storable(key)) return null;
    return (await run<{ until: number | null }>(this.#pool, blockedUntil, [by, key, now])).rows[0]?.until ?? null;
  }

  async list(now: number): Promise<Block[]> {
    return (await run<Block>(this.#pool, list, [now])).rows;
  }

  async remove(rule: string, key: string, now: number): Promise<Block | null> {
    if (!storable(rule) || !storable(key)) return null;
    // An ended block still stored is deleted too (as the purge would), but it was not active: null.
    const removed = (await run<Block>(this.#pool, remove, [rule, key])).rows[0];
    return removed && removed.until > now ? removed : null;
  }

  async purge(now: number): Promise<number> {
    return changed(await run(this.#pool, purge, [now]));
  }
}
