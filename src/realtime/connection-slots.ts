/**
 * The open WebSockets of each session, counted in the store, so that SPEC §10's limit (at most 20
 * per session) holds across the workers on one SQLite file and the nodes on one PostgreSQL
 * database, not per process (decision 0015). A slot is one open socket: taken before the upstream
 * is contacted, released when the socket ends.
 *
 * Crash safety: a slot counts only while the node (process) that holds it is live in the node
 * registry (cluster/node-registry.ts: a heartbeat newer than `liveWithinMs` by the database's
 * clock). A process killed while holding sockets stops heartbeating, so its slots stop counting
 * once its heartbeat is that old, and `purge` (housekeeping) deletes them once the registry has
 * forgotten the node (`nodes.purge`) or the node left (`nodes.leave`, a clean stop).
 * Adapters pass storage/contract/connection-slots.contract.ts.
 */
export interface ConnectionSlots {
  /**
   * Takes slot `slotId` for the session `handle` on node `nodeId` if the session holds fewer than
   * `limit` slots on nodes live within `liveWithinMs`; true when taken. Atomic across processes and
   * nodes: of concurrent takers at `limit - 1` exactly one passes.
   */
  take(handle: string, slotId: string, nodeId: string, limit: number, liveWithinMs: number): Promise<boolean>;
  /** Frees the slot (idempotent: an unknown or already freed slot is no error). */
  release(slotId: string): Promise<void>;
  /** Deletes the slots of nodes no longer in the registry (left, or purged after a crash); returns how many. */
  purge(): Promise<number>;
}

/**
 * How long a silent node's slots still count. Heartbeats are written at least every 200 ms
 * (revocation-follower.ts); 5 s is 25 missed beats, so a live node stalled by a GC pause or a busy
 * machine keeps its sockets counted, while a crashed node's sessions can reopen their sockets
 * elsewhere within seconds (decision 0015).
 */
export const slotLiveWithinMs = 5_000;

const maxHandleLength = 128;
const maxIdLength = 64;

/** Refuses what no caller should pass, on every adapter alike (a programming error, not an outcome). */
export function checkSlot(handle: string, slotId: string, nodeId: string, limit: number, liveWithinMs: number): void {
  if (handle.length === 0 || handle.length > maxHandleLength) throw new RangeError(`a slot's session handle is 1 to ${maxHandleLength} characters`);
  if (slotId.length === 0 || slotId.length > maxIdLength) throw new RangeError(`a slot id is 1 to ${maxIdLength} characters`);
  if (nodeId.length === 0 || nodeId.length > maxIdLength) throw new RangeError(`a slot's node id is 1 to ${maxIdLength} characters`);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('a slot limit is a positive whole number');
  if (!Number.isSafeInteger(liveWithinMs) || liveWithinMs < 1) throw new RangeError('a liveness window is a positive whole number of milliseconds');
}
