/**
 * The processes serving on one store, as they report themselves (SPEC §8 "Revocation stays
 * immediate"): each serving process writes a heartbeat with the highest revocation-log seq it has
 * applied, every time it has read the log (cluster/revocation-follower.ts). A revoker waits for
 * every process that is live here (cluster/revocation-confirmations.ts). Times are the database's
 * clock, compared by the database: nodes' clocks may disagree, the store's is the one they share.
 * Adapters pass storage/contract/node-registry.contract.ts.
 */
export interface LiveNode {
  nodeId: string;
  /** Every revocation up to this seq is applied to that process's session memory. */
  appliedSeq: number;
}

export interface NodeRegistry {
  /** Records that `nodeId` is alive now and has applied up to `appliedSeq` (never moves it back). */
  beat(nodeId: string, appliedSeq: number): Promise<void>;
  /** The processes whose last heartbeat is less than `withinMs` old by the database's clock. */
  live(withinMs: number): Promise<LiveNode[]>;
  /** A process that stops says so, so no revoker waits for it. */
  leave(nodeId: string): Promise<void>;
  /** Forgets processes silent for longer than `silentMs` (crashed ones); returns how many. */
  purge(silentMs: number): Promise<number>;
}
