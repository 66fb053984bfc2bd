import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { cryptoRandom } from '../security/random.js';
import { until } from '../storage/contract/node-channel.contract.js';
import { ChannelProbe } from './channel-probe.js';
import { LocalChannelHub, type LocalNodeChannel } from './local-node-channel.js';
import type { NodeChannel } from './node-channel.js';
import { newNodeId, type NodeMessage } from './node-messages.js';
import { trustForMs } from './revocation-follower.js';

/**
 * The channel vouches only while this process's own `alive` messages come back over a connection
 * that has not dropped since they were sent (decision 0008, "The channel vouches"). An in-process
 * channel wrapped so the test can drop it and swallow what it would deliver (a black hole); the
 * monotonic clock is a number the test moves.
 */
describe('ChannelProbe', () => {
  let hub: LocalChannelHub;
  let inner: LocalNodeChannel;
  let connected: boolean;
  let swallow: boolean;
  let statusListeners: Set<(c: boolean) => void>;
  let channel: NodeChannel;
  let now: number;
  let probe: ChannelProbe;

  function setConnected(value: boolean): void {
    connected = value;
    for (const listener of statusListeners) listener(value);
  }

  beforeEach(() => {
    hub = new LocalChannelHub();
    inner = hub.channel(newNodeId(cryptoRandom));
    connected = true;
    swallow = false;
    statusListeners = new Set();
    channel = {
      nodeId: inner.nodeId,
      publish: (m) => inner.publish(m),
      alive: (node, n) => inner.alive(node, n),
      aliveNodes: () => inner.aliveNodes(),
      subscribe: (listener) => inner.subscribe((m: NodeMessage) => {
        if (!swallow) listener(m);
      }),
      get connected() {
        return connected;
      },
      onStatus: (l) => (statusListeners.add(l), () => statusListeners.delete(l)),
      malformed: 0,
      close: () => inner.close(),
    };
    now = 0;
    // The timer stays out of the way: each test sends when it means to.
    probe = new ChannelProbe({ channel, nodeId: 'node-under-test', logger: silentLogger(), now: () => now, everyMs: 3_600_000 });
  });
  afterEach(() => probe.stop());

  it('is proven once its own alive came back, and lapses 750 ms after that one was sent', async () => {
    expect(probe.proven).toBe(false);
    probe.start();
    await until(() => probe.proven, 'the first alive heard back');
    now += trustForMs - 1;
    expect(probe.proven).toBe(true);
    now += 1;
    expect(probe.proven).toBe(false);
    await probe.send();
    await until(() => probe.proven, 'the next alive heard back');
  });

  it('records the node among the alive ones (what a revoker reads)', async () => {
    probe.start();
    await until(() => probe.proven, 'proven');
    expect(await channel.aliveNodes()).toContain('node-under-test');
  });

  it('a channel that delivers nothing back (black hole, frozen Redis) stops vouching 750 ms after the last alive that came back', async () => {
    probe.start();
    await until(() => probe.proven, 'proven');
    swallow = true;
    for (let i = 0; i < 7; i++) {
      now += 100;
      await probe.send();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(probe.proven).toBe(true);
    now += 50;
    expect(probe.proven).toBe(false);
  });

  it('a drop ends the proof at once; an alive sent before the drop and heard after it does not restore it', async () => {
    probe.start();
    await until(() => probe.proven, 'proven');
    const sent = probe.send();
    setConnected(false);
    expect(probe.proven).toBe(false);
    // Up again without the reconnection's own alive: the one in flight across the drop is heard, and counts for nothing.
    connected = true;
    await sent;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(probe.proven).toBe(false);
    // The reconnection sends at once, and that one proves it.
    for (const listener of statusListeners) listener(true);
    await until(() => probe.proven, 'proven by an alive sent after the reconnection');
  });

  it('another process\'s alive proves nothing for this one', async () => {
    probe.start();
    await until(() => probe.proven, 'proven');
    now += trustForMs;
    const other = hub.channel(newNodeId(cryptoRandom));
    await other.alive('node-other', 0);
    await other.alive('node-under-test', 99);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(probe.proven).toBe(false);
  });
});
