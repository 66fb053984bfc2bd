import { dispatchReceived, type NodeChannel } from '../../cluster/node-channel.js';
import { encodeNodeMessage, type NodeMessage, type NodeMessageBody } from '../../cluster/node-messages.js';
import type { RedisClient } from './create-redis-client.js';

export interface RedisNodeChannelOptions {
  /** The process's command connection (createRedisClient): publishes go over it. */
  client: RedisClient;
  /** SPEC §8 `cache.prefix`: the channel is `${prefix}nodes`. */
  prefix: string;
  nodeId: string;
  /** SPEC §8 `cache.timeout`: how long a publish may wait for the command connection to be ready. */
  timeoutMs: number;
}

/**
 * NodeChannel on Redis pub/sub. Publishing uses the command connection the counters use (no
 * offline queue, a per-command timeout: a publish to a hung server fails at the timeout); hearing
 * needs a connection of its own in subscribed mode (RESP2 allows nothing else on it), made with
 * `duplicate()` on the first `subscribe` only, so the CLI, which publishes but never listens, opens
 * none. node-redis reconnects it by itself and subscribes again before it reports 'ready', so
 * `connected` is true exactly from a completed (re)subscription until the connection errs or ends.
 * Whatever was published meanwhile is lost to this process (pub/sub keeps nothing): the listeners
 * of `onStatus` are how a process learns it must catch up from the store.
 */
export class RedisNodeChannel implements NodeChannel {
  readonly nodeId: string;
  readonly #client: RedisClient;
  readonly #name: string;
  readonly #timeoutMs: number;
  readonly #listeners = new Set<(message: NodeMessage) => void>();
  readonly #statusListeners = new Set<(connected: boolean) => void>();
  #subscriber: RedisClient | null = null;
  #connected = false;
  #malformed = 0;
  #closed = false;

  constructor(options: RedisNodeChannelOptions) {
    this.#client = options.client;
    this.#name = `${options.prefix}nodes`;
    this.#timeoutMs = options.timeoutMs;
    this.nodeId = options.nodeId;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get malformed(): number {
    return this.#malformed;
  }

  /** The Redis channel's name (for tests and the decision record). */
  get channelName(): string {
    return this.#name;
  }

  async publish(message: NodeMessageBody): Promise<void> {
    if (this.#closed) throw new Error('the node channel is closed');
    // A process that has just started (the CLI) publishes before its connection is up: it may wait
    // for it, within the same budget a command has, and no longer.
    if (!this.#client.isReady) await this.#ready(this.#client);
    await this.#client.publish(this.#name, encodeNodeMessage(this.nodeId, message));
  }

  #ready(client: RedisClient): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error): void => {
        clearTimeout(timer);
        client.off('ready', onReady);
        if (error) reject(error);
        else resolve();
      };
      const onReady = (): void => done();
      const timer = setTimeout(() => done(new Error('redis is not connected')), this.#timeoutMs);
      client.on('ready', onReady);
    });
  }

  subscribe(listener: (message: NodeMessage) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#subscriber && !this.#closed) this.#startSubscriber();
    return () => this.#listeners.delete(listener);
  }

  onStatus(listener: (connected: boolean) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  #startSubscriber(): void {
    const subscriber = this.#client.duplicate();
    this.#subscriber = subscriber;
    let subscribed = false;
    // duplicate() copies options, not listeners: an unheard 'error' would end the process.
    subscriber.on('error', () => this.#setConnected(false));
    subscriber.on('end', () => this.#setConnected(false));
    subscriber.on('reconnecting', () => this.#setConnected(false));
    // After the first subscription, node-redis re-subscribes inside its handshake, before 'ready'.
    subscriber.on('ready', () => {
      if (subscribed) this.#setConnected(true);
    });
    const onText = (text: string): void => this.#receive(text);
    const attempt = (): void => {
      if (this.#closed) return;
      subscriber.subscribe(this.#name, onText).then(() => {
        subscribed = true;
        if (subscriber.isReady) this.#setConnected(true);
      }, () => {
        // The connection went while subscribing: try again once it is back.
        if (!this.#closed) subscriber.once('ready', attempt);
      });
    };
    subscriber.connect().then(attempt, () => {});
  }

  #receive(text: string): void {
    if (!dispatchReceived(text, this.nodeId, this.#listeners)) this.#malformed += 1;
  }

  #setConnected(connected: boolean): void {
    if (this.#closed || connected === this.#connected) return;
    this.#connected = connected;
    for (const listener of this.#statusListeners) listener(connected);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#setConnected(false);
    this.#closed = true;
    this.#subscriber?.destroy();
    this.#subscriber = null;
  }
}
