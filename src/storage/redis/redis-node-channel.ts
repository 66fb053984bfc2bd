import { aliveForMs, dispatchReceived, type NodeChannel } from '../../cluster/node-channel.js';
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
 * `alive`: the record and the message in one script, which Redis runs alone, so whoever hears the
 * message knows the record was made first. A sorted set scored by when each node's record ends, by
 * Redis's own clock (TIME), so the nodes' clocks never meet. Node ids only: nothing secret.
 * KEYS[1] the set; ARGV: aliveForMs, node, channel, message.
 */
const aliveScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return redis.call('PUBLISH', ARGV[3], ARGV[4])
`;

/** The nodes whose record has not ended, by Redis's clock. KEYS[1] the set. */
const aliveNodesScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`;

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
  readonly #aliveKey: string;
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
    this.#aliveKey = `${options.prefix}alive`;
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

  async alive(node: string, n: number): Promise<void> {
    if (this.#closed) throw new Error('the node channel is closed');
    if (!this.#client.isReady) await this.#ready(this.#client);
    await this.#client.eval(aliveScript, {
      keys: [this.#aliveKey],
      arguments: [String(aliveForMs), node, this.#name, encodeNodeMessage(this.nodeId, { type: 'alive', node, n })],
    });
  }

  async aliveNodes(): Promise<string[]> {
    if (this.#closed) throw new Error('the node channel is closed');
    if (!this.#client.isReady) await this.#ready(this.#client);
    return (await this.#client.eval(aliveNodesScript, { keys: [this.#aliveKey] })) as string[];
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
