import type { Database, Statement } from 'better-sqlite3';
import type { LiveNode, NodeRegistry } from '../../cluster/node-registry.js';

/** The database's clock in milliseconds (the one clock the processes on this file share). */
const nowMs = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/** NodeRegistry on SQLite (migration 10). */
export class SqliteNodeRegistry implements NodeRegistry {
  readonly #beat: Statement<[string, number]>;
  readonly #live: Statement<[number], { node_id: string; applied_seq: number }>;
  readonly #leave: Statement<[string]>;
  readonly #purge: Statement<[number]>;

  constructor(db: Database) {
    this.#beat = db.prepare(`INSERT INTO live_nodes (node_id, heartbeat_at, applied_seq) VALUES (?, ${nowMs}, ?)
      ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, applied_seq = max(applied_seq, excluded.applied_seq)`);
    this.#live = db.prepare(`SELECT node_id, applied_seq FROM live_nodes WHERE heartbeat_at > ${nowMs} - ?`);
    this.#leave = db.prepare('DELETE FROM live_nodes WHERE node_id = ?');
    this.#purge = db.prepare(`DELETE FROM live_nodes WHERE heartbeat_at <= ${nowMs} - ?`);
  }

  async beat(nodeId: string, appliedSeq: number): Promise<void> {
    this.#beat.run(nodeId, appliedSeq);
  }

  async live(withinMs: number): Promise<LiveNode[]> {
    return this.#live.all(withinMs).map((row) => ({ nodeId: row.node_id, appliedSeq: row.applied_seq }));
  }

  async leave(nodeId: string): Promise<void> {
    this.#leave.run(nodeId);
  }

  async purge(silentMs: number): Promise<number> {
    return this.#purge.run(silentMs).changes;
  }
}
