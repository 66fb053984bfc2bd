import type { Database, Statement, Transaction } from 'better-sqlite3';
import { checkSlot, type ConnectionSlots } from '../../realtime/connection-slots.js';
import { answeringOrUnavailable as call } from './sqlite-outage.js';

/** The database's clock in milliseconds, the one live_nodes' heartbeats are written with (sqlite-node-registry.ts). */
const nowMs = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/**
 * ConnectionSlots on SQLite (migration 15). `take` counts and inserts in one BEGIN IMMEDIATE
 * transaction: it holds the file's write lock before it counts, so the workers on one file take
 * slots one at a time and two cannot both pass at `limit - 1`.
 */
export class SqliteConnectionSlots implements ConnectionSlots {
  readonly #take: Transaction<(handle: string, slotId: string, nodeId: string, limit: number, liveWithinMs: number) => boolean>;
  readonly #release: Statement<[string]>;
  readonly #purge: Statement<[]>;

  constructor(db: Database) {
    const count = db.prepare<[string, number], number>(`SELECT count(*) FROM connection_slots s JOIN live_nodes n ON n.node_id = s.node_id
      WHERE s.handle = ? AND n.heartbeat_at > ${nowMs} - ?`).pluck();
    const insert = db.prepare<[string, string, string]>(`INSERT INTO connection_slots (slot_id, handle, node_id, taken_at) VALUES (?, ?, ?, ${nowMs})`);
    this.#take = db.transaction((handle, slotId, nodeId, limit, liveWithinMs) => {
      if ((count.get(handle, liveWithinMs) ?? 0) >= limit) return false;
      insert.run(slotId, handle, nodeId);
      return true;
    });
    this.#release = db.prepare('DELETE FROM connection_slots WHERE slot_id = ?');
    this.#purge = db.prepare('DELETE FROM connection_slots WHERE node_id NOT IN (SELECT node_id FROM live_nodes)');
  }

  async take(handle: string, slotId: string, nodeId: string, limit: number, liveWithinMs: number): Promise<boolean> {
    checkSlot(handle, slotId, nodeId, limit, liveWithinMs);
    return call(() => this.#take.immediate(handle, slotId, nodeId, limit, liveWithinMs));
  }

  async release(slotId: string): Promise<void> {
    call(() => this.#release.run(slotId));
  }

  async purge(): Promise<number> {
    return call(() => this.#purge.run().changes);
  }
}
