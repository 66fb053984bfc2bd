import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../../../test/helpers/redis.js';
import { newNodeId, type NodeMessage } from '../../cluster/node-messages.js';
import { cryptoRandom } from '../../security/random.js';
import { describeNodeChannelContract, until } from '../contract/node-channel.contract.js';
import { createRedisClient, type RedisClient } from './create-redis-client.js';
import { RedisNodeChannel } from './redis-node-channel.js';

/**
 * The channel contract on a real redis-server, each process with its own command client (and the
 * subscriber connection the channel duplicates from it); then what only Redis can do: stop, come
 * back, cut the subscribers, hang.
 */
const redis = useRedis();
const clients: RedisClient[] = [];
const channels: RedisNodeChannel[] = [];
let tests = 0;
let observer: RedisClient;

function node(prefix: string, timeoutMs = 5_000): RedisNodeChannel {
  const client = createRedisClient({ url: redis.server.url, timeoutMs });
  clients.push(client);
  client.connect().catch(() => {});
  const channel = new RedisNodeChannel({ client, prefix, nodeId: newNodeId(cryptoRandom), timeoutMs });
  channels.push(channel);
  return channel;
}

beforeAll(async () => {
  observer = createRedisClient({ url: redis.server.url, timeoutMs: 5_000 });
  await observer.connect();
});
afterEach(async () => {
  redis.server.thaw();
  await redis.server.start();
  await expect.poll(() => observer.ping().catch(() => 'no'), { timeout: 5_000 }).toBe('PONG');
});
afterAll(async () => {
  for (const channel of channels) await channel.close();
  for (const client of clients) if (client.isOpen) client.destroy();
  observer.destroy();
});

describeNodeChannelContract('redis', async () => {
  const prefix = `gh:t${(tests += 1)}:`;
  const [a, b, c] = [node(prefix), node(prefix), node(prefix)] as [RedisNodeChannel, RedisNodeChannel, RedisNodeChannel];
  return {
    a,
    b,
    c,
    async inject(text) {
      await observer.publish(a.channelName, text);
    },
    async cleanup() {
      await Promise.all([a, b, c].map((channel) => channel.close()));
    },
  };
});

describe('RedisNodeChannel on a real redis-server', () => {
  async function subscribers(channel: string): Promise<number> {
    return Number((await observer.pubSubNumSub(channel))[channel]);
  }

  async function pair(timeoutMs = 5_000): Promise<{ a: RedisNodeChannel; b: RedisNodeChannel; heard: NodeMessage[]; statuses: boolean[] }> {
    const prefix = `gh:f${(tests += 1)}:`;
    const a = node(prefix, timeoutMs);
    const b = node(prefix, timeoutMs);
    const heard: NodeMessage[] = [];
    const statuses: boolean[] = [];
    b.subscribe((message) => heard.push(message));
    await until(() => b.connected, 'b subscribed');
    b.onStatus((connected) => statuses.push(connected));
    return { a, b, heard, statuses };
  }

  /** Publishes until b hears one: after a reconnection the subscription may come back a little later than `connected` on a's side. */
  async function reaches(a: RedisNodeChannel, heard: NodeMessage[]): Promise<void> {
    const before = heard.length;
    await a.publish({ type: 'changed', what: 'secrets' });
    await until(() => heard.length > before, 'b heard a');
  }

  it('the channel is named under cache.prefix, and nothing but the channel is written; alive writes one sorted set of node ids under it, which expires', async () => {
    const { a, heard } = await pair();
    expect(a.channelName).toMatch(/^gh:f\d+:nodes$/);
    const prefix = a.channelName.replace(/nodes$/, '');
    await reaches(a, heard);
    expect(await observer.keys(`${prefix}*`)).toEqual([]);
    expect(await observer.pubSubChannels('gh:*')).toContain(a.channelName);
    await a.alive('node-alpha-1', 0);
    expect(await observer.keys(`${prefix}*`)).toEqual([`${prefix}alive`]);
    expect(await observer.zRange(`${prefix}alive`, 0, -1)).toEqual(['node-alpha-1']);
    expect(await observer.pTTL(`${prefix}alive`)).toBeGreaterThan(0);
  });

  it('Redis stopped: connected goes false at once; started again: true only after resubscribing, and messages flow', async () => {
    const { a, b, heard, statuses } = await pair();
    await redis.server.stop();
    await until(() => !b.connected, 'b disconnected', 2_000);
    await expect(a.publish({ type: 'changed', what: 'keys' })).rejects.toThrow();
    await redis.server.start();
    await until(() => b.connected, 'b connected again', 5_000);
    // connected means subscribed: a message published now is heard, no retry needed.
    await expect.poll(() => subscribers(b.channelName).catch(() => -1), { timeout: 5_000 }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => a.publish({ type: 'changed', what: 'secrets' }).then(() => 'ok', () => 'no'), { timeout: 5_000 }).toBe('ok');
    await until(() => heard.length === 1, 'b heard a after the restart');
    expect(statuses).toEqual([false, true]);
  });

  it('a process started while Redis is down connects and subscribes once it is up; its publishes fail meanwhile', async () => {
    await redis.server.stop();
    const prefix = `gh:late${(tests += 1)}:`;
    const late = node(prefix, 200);
    const heard: NodeMessage[] = [];
    late.subscribe((m) => heard.push(m));
    await expect(late.publish({ type: 'changed', what: 'keys' })).rejects.toThrow();
    expect(late.connected).toBe(false);
    await redis.server.start();
    await until(() => late.connected, 'late subscribed', 5_000);
    const other = node(prefix);
    await expect.poll(() => other.publish({ type: 'changed', what: 'keys' }).then(() => 'ok', () => 'no'), { timeout: 5_000 }).toBe('ok');
    await until(() => heard.length === 1, 'late heard the other');
  });

  it('the subscriber connection killed (CLIENT KILL TYPE pubsub): false, then true once subscribed again', async () => {
    const { a, b, heard, statuses } = await pair();
    expect(await redis.server.killSubscribers()).toBeGreaterThanOrEqual(1);
    await until(() => statuses.includes(false), 'b saw the cut', 2_000);
    await until(() => b.connected, 'b subscribed again', 5_000);
    expect(statuses).toEqual([false, true]);
    await a.publish({ type: 'changed', what: 'blocks' });
    await until(() => heard.length === 1, 'b heard a after the cut');
  });

  it('a publish while Redis is frozen fails within cache.timeout, and works once it thaws', async () => {
    const timeoutMs = 200;
    const { a, heard } = await pair(timeoutMs);
    await reaches(a, heard);
    redis.server.freeze();
    const started = performance.now();
    const error = await a.publish({ type: 'changed', what: 'keys' }).then(() => null, (e: unknown) => e);
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(Error);
    // The machine is shared: a timer may fire late, so some slack, but nowhere near a hang.
    expect(ms).toBeLessThan(timeoutMs + 400);
    redis.server.thaw();
    const before = heard.length;
    await expect.poll(() => a.publish({ type: 'changed', what: 'secrets' }).then(() => 'ok', () => 'no'), { timeout: 5_000 }).toBe('ok');
    await until(() => heard.length > before, 'b heard a after the thaw');
  });

  it('a process that only publishes (the CLI) opens no subscriber connection, and its first publish waits for the connection within the timeout', async () => {
    const prefix = `gh:cli${(tests += 1)}:`;
    const listener = node(prefix);
    const heard: NodeMessage[] = [];
    listener.subscribe((m) => heard.push(m));
    await until(() => listener.connected, 'listener subscribed');
    const subscribersBefore = await subscribers(listener.channelName);
    const cli = node(prefix, 1_000);
    await cli.publish({ type: 'revoked', seq: 7, scope: 'all' });
    await until(() => heard.length === 1, 'the listener heard the CLI');
    expect(await subscribers(listener.channelName)).toBe(subscribersBefore);
    expect(cli.connected).toBe(false);
  });
});
