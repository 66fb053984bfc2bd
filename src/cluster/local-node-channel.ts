import { aliveForMs, dispatchReceived, type NodeChannel } from './node-channel.js';
import { encodeNodeMessage, type NodeMessage, type NodeMessageBody } from './node-messages.js';

/**
 * The channel inside one process: every LocalNodeChannel made from one hub hears the others. A
 * single SQLite process has no one to tell, so its channel is a hub of one; tests give several
 * services one hub. Messages travel in their wire form and are decoded on receipt, as over Redis.
 *
 * Several processes on one SQLite file (workers, the CLI beside `serve`) do not hear each other
 * through this: they follow the revocation log and the node registry instead
 * (cluster/revocation-follower.ts, cluster/revocation-confirmations.ts).
 */
export class LocalChannelHub {
  readonly #members = new Set<LocalNodeChannel>();
  /** node → when (performance.now) it last said alive. */
  readonly #alive = new Map<string, number>();
  readonly #now: () => number;

  /** `now`: a monotonic clock in milliseconds (default performance.now), for `alive`'s record. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  channel(nodeId: string): LocalNodeChannel {
    const channel = new LocalNodeChannel(this, nodeId);
    this.#members.add(channel);
    return channel;
  }

  /** Hands the raw text to every member but the sender (a test injects malformed text here). */
  deliver(text: string, except?: LocalNodeChannel): void {
    for (const member of this.#members) if (member !== except) member.receive(text);
  }

  recordAlive(node: string): void {
    this.#alive.set(node, this.#now());
  }

  aliveNodes(): string[] {
    const now = this.#now();
    return [...this.#alive].filter(([, at]) => now - at < aliveForMs).map(([node]) => node);
  }

  leave(channel: LocalNodeChannel): void {
    this.#members.delete(channel);
  }
}

export class LocalNodeChannel implements NodeChannel {
  readonly nodeId: string;
  readonly #hub: LocalChannelHub;
  readonly #listeners = new Set<(message: NodeMessage) => void>();
  readonly #statusListeners = new Set<(connected: boolean) => void>();
  #malformed = 0;
  #open = true;

  constructor(hub: LocalChannelHub, nodeId: string) {
    this.#hub = hub;
    this.nodeId = nodeId;
  }

  get connected(): boolean {
    return this.#open;
  }

  get malformed(): number {
    return this.#malformed;
  }

  async publish(message: NodeMessageBody): Promise<void> {
    if (!this.#open) throw new Error('the node channel is closed');
    const text = encodeNodeMessage(this.nodeId, message);
    // Asynchronous, as over a network: a listener never runs inside the publisher's call. The
    // sender is handed it too (it drops its own, but for `alive`: node-channel.ts dispatchReceived).
    queueMicrotask(() => this.#hub.deliver(text));
  }

  async alive(node: string, n: number): Promise<void> {
    if (!this.#open) throw new Error('the node channel is closed');
    this.#hub.recordAlive(node);
    await this.publish({ type: 'alive', node, n });
  }

  async aliveNodes(): Promise<string[]> {
    if (!this.#open) throw new Error('the node channel is closed');
    return this.#hub.aliveNodes();
  }

  receive(text: string): void {
    if (!this.#open) return;
    if (!dispatchReceived(text, this.nodeId, this.#listeners)) this.#malformed += 1;
  }

  subscribe(listener: (message: NodeMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onStatus(listener: (connected: boolean) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#hub.leave(this);
    for (const listener of this.#statusListeners) listener(false);
  }
}
