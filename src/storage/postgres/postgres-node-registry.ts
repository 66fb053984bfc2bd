import type pg from 'pg';
import type { LiveNode, NodeRegistry } from '../../cluster/node-registry.js';
import { changed, run, statement } from './queries.js';

/** The database's clock in milliseconds: nodes' own clocks may be skewed, this one they share. */
const nowMs = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

const beat = statement('live_nodes_beat', `INSERT INTO live_nodes (node_id, heartbeat_at, applied_seq) VALUES ($1, ${nowMs}, $2)
  ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, applied_seq = greatest(live_nodes.applied_seq, excluded.applied_seq)`);
const live = statement('live_nodes_live', `SELECT node_id, applied_seq FROM live_nodes WHERE heartbeat_at > ${nowMs} - $1`);
const leave = statement('live_nodes_leave', 'DELETE FROM live_nodes WHERE node_id = $1');
const purge = statement('live_nodes_purge', `DELETE FROM live_nodes WHERE heartbeat_at <= ${nowMs} - $1`);

/** NodeRegistry on PostgreSQL (migration 7). */
export class PostgresNodeRegistry implements NodeRegistry {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async beat(nodeId: string, appliedSeq: number): Promise<void> {
    await run(this.#pool, beat, [nodeId, appliedSeq]);
  }

  async live(withinMs: number): Promise<LiveNode[]> {
    // bigint columns arrive as strings unless the pool parses them (postgres-pool.ts); Number() either way.
    return (await run<{ node_id: string; applied_seq: number | string }>(this.#pool, live, [withinMs])).rows.map((row) => ({ nodeId: row.node_id, appliedSeq: Number(row.applied_seq) }));
  }

  async leave(nodeId: string): Promise<void> {
    await run(this.#pool, leave, [nodeId]);
  }

  async purge(silentMs: number): Promise<number> {
    return changed(await run(this.#pool, purge, [silentMs]));
  }
}
