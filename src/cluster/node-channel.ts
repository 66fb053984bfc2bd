import { decodeNodeMessage, type NodeMessage, type NodeMessageBody } from './node-messages.js';

/**
 * Messages between the processes sharing a store (SPEC §8 "Changes reach every node", "Revocation
 * stays immediate"): every process hears what any other publishes. Delivery is at most once and
 * only to processes connected at the time (Redis pub/sub keeps nothing), so a message is a hint to
 * act at once, never the record: what must not be missed is in the store (the revocation log, the
 * secrets, the keys), and a process that was not connected catches up from there.
 * Adapters: storage/redis/redis-node-channel.ts, cluster/local-node-channel.ts; both pass
 * storage/contract/node-channel.contract.ts.
 */
export interface NodeChannel {
  /** This process's random id, carried by every message it publishes. */
  readonly nodeId: string;
  /**
   * Sends to every other process. Rejects when the message cannot be handed over within the
   * cache timeout (never queued for later: a late announcement is worth less than the caller's time).
   */
  publish(message: NodeMessageBody): Promise<void>;
  /**
   * Hears what other processes publish (never this process's own, but for `alive`), each valid
   * message once; malformed ones are dropped and counted. Returns the unsubscribe function.
   */
  subscribe(listener: (message: NodeMessage) => void): () => void;
  /**
   * Says the serving process `node` is alive and hears the channel: records it among the alive
   * ones for `aliveForMs` (by the backend's clock, one clock for every process) and publishes
   * `alive {node, n}` in the same atomic step, so a process that heard its own message back knows
   * the record was made before it (cluster/channel-probe.ts). Every process hears it, this one
   * included. Rejects as `publish` does.
   */
  alive(node: string, n: number): Promise<void>;
  /**
   * The nodes recorded by `alive` less than `aliveForMs` ago, read once the call starts: a revoker
   * waits for these as well as for the registry's (cluster/revocation-confirmations.ts).
   */
  aliveNodes(): Promise<string[]>;
  /** True while messages published elsewhere would reach this process's listeners. */
  readonly connected: boolean;
  /** Called with the new value each time `connected` changes. Returns the unsubscribe function. */
  onStatus(listener: (connected: boolean) => void): () => void;
  /** How many received messages were dropped as malformed since this channel was opened. */
  readonly malformed: number;
  close(): Promise<void>;
}

/**
 * How long `alive` keeps a node among the alive ones: a revoker waits for every node recorded this
 * recently (the same second after which the registry stops counting a heartbeat).
 */
export const aliveForMs = 1_000;

/**
 * What every adapter does with a message's text as received: decodes it, drops this process's own,
 * and hands the rest to each listener (one listener's failure must not keep it from the others).
 * False when the text is malformed (the adapter counts it).
 */
export function dispatchReceived(text: string, nodeId: string, listeners: Iterable<(message: NodeMessage) => void>): boolean {
  const message = decodeNodeMessage(text);
  if (!message) return false;
  // A process's own `alive` comes back to it: that is how it knows the channel carries its messages.
  if (message.from === nodeId && message.type !== 'alive') return true;
  for (const listener of listeners) {
    try {
      listener(message);
    } catch {
      // the listener's own business
    }
  }
  return true;
}
