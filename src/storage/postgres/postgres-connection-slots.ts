import type pg from 'pg';
import { checkSlot, type ConnectionSlots } from '../../realtime/connection-slots.js';
import { changed, run, statement, storable, transaction } from './queries.js';

/** The database's clock in milliseconds, the one live_nodes' heartbeats are written with (postgres-node-registry.ts). */
const nowMs = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** Advisory lock namespace of a session's slots (beside the MFA and counter stores' 0x6768000x). */
const slotsLock = 0x67680004;

const lockHandle = statement('slots_lock_handle', 'SELECT pg_advisory_xact_lock($1::integer, hashtext($2))');
// Run once the handle's lock is held, as a statement of its own: under READ COMMITTED its snapshot
// is taken after the previous holder committed, so it counts that holder's slot.
const take = statement('slots_take', `INSERT INTO connection_slots (slot_id, handle, node_id, taken_at)
  SELECT $1, $2, $3, ${nowMs}
  WHERE (SELECT count(*) FROM connection_slots s JOIN live_nodes n ON n.node_id = s.node_id
    WHERE s.handle = $2 AND n.heartbeat_at > ${nowMs} - $5::bigint) < $4::bigint`);
const release = statement('slots_release', 'DELETE FROM connection_slots WHERE slot_id = $1');
const purge = statement('slots_purge', 'DELETE FROM connection_slots WHERE node_id NOT IN (SELECT node_id FROM live_nodes)');

/**
 * ConnectionSlots on PostgreSQL (migration 12). A count-then-insert in one statement is not enough
 * here as it is on SQLite (whose writers run one at a time): two nodes taking a session's last
 * slot would each count the rows of their own snapshot and both insert. Under the session handle's
 * transaction-level advisory lock the second counts after the first commits; a row lock could not
 * cover rows that do not exist yet.
 */
export class PostgresConnectionSlots implements ConnectionSlots {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async take(handle: string, slotId: string, nodeId: string, limit: number, liveWithinMs: number): Promise<boolean> {
    checkSlot(handle, slotId, nodeId, limit, liveWithinMs);
    if (!storable(handle) || !storable(slotId) || !storable(nodeId)) throw new RangeError('a slot key holds no NUL character');
    return transaction(this.#pool, async (client) => {
      await run(client, lockHandle, [slotsLock, handle]);
      return changed(await run(client, take, [slotId, handle, nodeId, limit, liveWithinMs])) === 1;
    });
  }

  async release(slotId: string): Promise<void> {
    if (!storable(slotId)) return;
    await run(this.#pool, release, [slotId]);
  }

  async purge(): Promise<number> {
    return changed(await run(this.#pool, purge));
  }
}
