import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { SessionMemory } from '../sessions/session-memory.js';
import type { SessionRecord } from '../sessions/session-store.js';
import { sessionRecord, userRecord } from '../storage/contract/fixtures.js';
import { until } from '../storage/contract/node-channel.contract.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { LocalChannelHub, type LocalNodeChannel } from './local-node-channel.js';
import type { NodeChannel } from './node-channel.js';
import { newNodeId, type NodeMessage } from './node-messages.js';
import type { NodeRegistry } from './node-registry.js';
import { RevocationFollower, trustForMs } from './revocation-follower.js';

/**
 * SPEC §8: a process answers from memory only while it is caught up with the revocation log and
 * has heard from the store within 1 s; it applies what it hears and what it reads. A real SQLite
 * store; the monotonic clock the follower judges trust by is a number the test moves.
 */
describe('RevocationFollower', () => {
  let store: Store;
  let hub: LocalChannelHub;
  let channel: LocalNodeChannel;
  let peer: LocalNodeChannel;
  let memory: SessionMemory;
  let now: number;
  let storeDown: boolean;
  let follower: RevocationFollower;
  const clock = new ManualClock(1_000_000);

  let registryDown = false;
  function check(): void {
    if (storeDown) throw new Error('store unreachable');
  }

  /** The real registry (and log, in make), failing while `storeDown` (as a PostgreSQL that cannot be reached). */
  function reachable(registry: NodeRegistry): NodeRegistry {
    return {
      beat: async (...args) => {
        check();
        if (registryDown) throw new Error('heartbeat refused');
        return registry.beat(...args);
      },
      live: async (...args) => (check(), registry.live(...args)),
      leave: async (...args) => (check(), registry.leave(...args)),
      purge: async (...args) => (check(), registry.purge(...args)),
    };
  }

  /**
   * The channel, with its connection state in the test's hands: `setConnected` changes it and tells
   * the status listeners (unless `tell: false`, a change not yet reported).
   */
  function flakyChannel(): { flaky: NodeChannel; setConnected: (value: boolean, options?: { tell: boolean }) => void } {
    let connected = true;
    const statusListeners = new Set<(c: boolean) => void>();
    const flaky: NodeChannel = {
      nodeId: channel.nodeId,
      publish: (m) => channel.publish(m),
      alive: (node, n) => channel.alive(node, n),
      aliveNodes: () => channel.aliveNodes(),
      subscribe: (l) => channel.subscribe(l),
      get connected() {
        return connected;
      },
      onStatus: (l) => (statusListeners.add(l), () => statusListeners.delete(l)),
      malformed: 0,
      close: () => channel.close(),
    };
    const setConnected = (value: boolean, options = { tell: true }): void => {
      connected = value;
      if (options.tell) for (const l of statusListeners) l(value);
    };
    return { flaky, setConnected };
  }

  function make(over: Partial<{ channel: NodeChannel; probe: { proven: boolean } }> = {}): RevocationFollower {
    return new RevocationFollower({
      nodeId: newNodeId(cryptoRandom),
      log: {
        since: async (...args) => (check(), store.revocations.since(...args)),
        latestSeq: async () => (check(), store.revocations.latestSeq()),
        purge: async (...args) => (check(), store.revocations.purge(...args)),
      },
      registry: reachable(store.nodes),
      channel: over.channel ?? channel,
      memory,
      logger: silentLogger(),
      // The timer stays out of the way: each test runs the rounds it means to.
      intervalMs: 3_600_000,
      now: () => now,
      probe: over.probe ?? null,
    });
  }

  function remember(session: SessionRecord): void {
    memory.remember({ session, user: userRecord({ name: session.userName }), stored: session.lastSeenAt }, memory.epoch);
  }

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    hub = new LocalChannelHub();
    channel = hub.channel(newNodeId(cryptoRandom));
    peer = hub.channel(newNodeId(cryptoRandom));
    memory = new SessionMemory({ clock });
    now = 0;
    storeDown = false;
    registryDown = false;
    follower = make();
  });
  afterEach(async () => {
    await follower.stop();
    await store.close();
  });

  it('is trusted after a round, and stops being trusted 750 ms after the start of the last good one', async () => {
    expect(follower.trusted).toBe(false);
    await follower.start();
    expect(follower.trusted).toBe(true);
    now += trustForMs - 1;
    expect(follower.trusted).toBe(true);
    now += 1;
    expect(follower.trusted).toBe(false);
    expect(await follower.tick()).toBe(true);
    expect(follower.trusted).toBe(true);
  });

  it('a process that cannot reach the store stops answering from memory within 750 ms, and the revoker stops waiting for it after 1 s', async () => {
    await follower.start();
    expect((await store.nodes.live(1_000)).map((n) => n.nodeId)).toEqual([follower.nodeId]);
    storeDown = true;
    for (let t = 0; t < 8; t++) {
      now += 100;
      expect(await follower.tick()).toBe(false);
    }
    expect(follower.trusted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await store.nodes.live(1_000)).toEqual([]);
    storeDown = false;
    expect(await follower.tick()).toBe(true);
    expect(follower.trusted).toBe(true);
  });

  it('reading the log is not enough: without a heartbeat written (which is what the revoker counts) trust lapses 750 ms after the last one', async () => {
    await follower.start();
    registryDown = true;
    for (let t = 0; t < 7; t++) {
      now += 100;
      await follower.tick();
    }
    expect(follower.trusted).toBe(true);
    now += 50;
    await follower.tick();
    expect(follower.trusted).toBe(false);
  });

  it('reads the log: applies each revocation to the memory and writes the seq it reached to the registry', async () => {
    await follower.start();
    const [a, b, c] = [1, 2, 3].map((n) => sessionRecord({ idHash: String(n).repeat(64), handle: `h${n}`, userName: n === 3 ? 'bob' : 'alice' })) as [SessionRecord, SessionRecord, SessionRecord];
    for (const s of [a, b, c]) {
      await store.sessions.create(s);
      remember(s);
    }
    await store.sessions.deleteByHandle('h1');
    const { seq } = await store.sessions.deleteByUser('alice');
    expect(memory.size).toBe(3);
    await follower.tick();
    expect(memory.size).toBe(1);
    expect(memory.get(c.idHash)).not.toBeNull();
    expect(follower.applied).toBe(seq);
    expect(await store.nodes.live(1_000)).toEqual([{ nodeId: follower.nodeId, appliedSeq: seq }]);
  });

  it('a log that lost entries it had yet to read (complete: false) clears the memory', async () => {
    await follower.start();
    const s = sessionRecord({ idHash: 'a'.repeat(64), handle: 'kept', userName: 'carol' });
    remember(s);
    for (const n of [1, 2, 3]) {
      await store.sessions.create(sessionRecord({ idHash: String(n).repeat(64), handle: `x${n}`, userName: 'dave' }));
      await store.sessions.deleteByHandle(`x${n}`);
    }
    await store.revocations.purge(Date.now() + 60_000);
    await follower.tick();
    expect(memory.size).toBe(0);
  });

  it('applies a revoked message at once and confirms exactly that seq', async () => {
    const heard: NodeMessage[] = [];
    peer.subscribe((m) => heard.push(m));
    await follower.start();
    remember(sessionRecord({ idHash: 'b'.repeat(64), handle: 'gone', userName: 'erin' }));
    await peer.publish({ type: 'revoked', seq: 41, scope: 'session', subject: 'gone' });
    await until(() => heard.length === 1, 'a confirmation');
    expect(memory.size).toBe(0);
    expect(heard[0]).toMatchObject({ type: 'confirmed', seq: 41, by: follower.nodeId });
  });

  it('a channel that drops is distrusted at once, and trusted again only after a log read that started once it was back', async () => {
    const { flaky, setConnected } = flakyChannel();
    await follower.stop();
    follower = make({ channel: flaky });
    await follower.start();
    expect(follower.trusted).toBe(true);
    setConnected(false);
    expect(follower.trusted).toBe(false);
    // A round run while it is down vouches for nothing after it.
    await follower.tick();
    setConnected(true, { tell: false });
    expect(follower.trusted).toBe(false);
    setConnected(true);
    await until(() => follower.trusted, 'trusted after the catch-up read');
  });

  it('the store unreachable: trusted on while the channel vouches (SPEC §8, PostgreSQL down: known sessions keep working), not a moment after it stops vouching', async () => {
    const probe = { proven: true };
    await follower.stop();
    follower = make({ probe });
    await follower.start();
    storeDown = true;
    for (let t = 0; t < 30; t++) {
      now += 100;
      expect(await follower.tick()).toBe(false);
    }
    expect(follower.trusted, '3 s without the store, the channel vouching').toBe(true);
    probe.proven = false;
    expect(follower.trusted).toBe(false);
    probe.proven = true;
    expect(follower.trusted).toBe(true);
  });

  it('a channel that dropped does not vouch, however well it works again, until a log read started after it was back', async () => {
    const { flaky, setConnected } = flakyChannel();
    const probe = { proven: true };
    await follower.stop();
    follower = make({ channel: flaky, probe });
    await follower.start();
    storeDown = true;
    setConnected(false);
    setConnected(true);
    // Revocations announced while it was down were missed; only the log has them.
    expect(follower.trusted).toBe(false);
    now += 100;
    await follower.tick();
    expect(follower.trusted).toBe(false);
    storeDown = false;
    expect(await follower.tick()).toBe(true);
    expect(follower.trusted).toBe(true);
    storeDown = true;
    now += 5_000;
    expect(follower.trusted, 'the channel vouches again once the log caught up').toBe(true);
  });

  it('logs a failing store by error name and code only: the message, which may hold the connection string, never reaches the log', async () => {
    const lines: string[] = [];
    const failure = Object.assign(new Error('connect ECONNREFUSED postgres://gatehouse:s3cret-pw@db.internal:5432/gh'), { code: 'ECONNREFUSED' });
    const failing = new RevocationFollower({
      nodeId: newNodeId(cryptoRandom),
      log: { since: async () => Promise.reject(failure), latestSeq: async () => Promise.reject(failure), purge: async () => 0 },
      registry: { beat: async () => Promise.reject(failure), live: async () => [], leave: async () => Promise.reject(failure), purge: async () => 0 },
      channel,
      memory,
      logger: createLogger({ destination: { write: (line: string) => void lines.push(line) } }),
      intervalMs: 3_600_000,
      now: () => now,
    });
    await failing.start();
    await failing.stop();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain('s3cret-pw');
      expect(line).not.toContain('db.internal');
    }
    expect(JSON.parse(lines[0]!).err).toEqual({ name: 'Error', code: 'ECONNREFUSED' });
  });

  it('leaves the registry when it stops', async () => {
    await follower.start();
    expect(await store.nodes.live(1_000)).toHaveLength(1);
    await follower.stop();
    expect(await store.nodes.live(1_000)).toEqual([]);
    expect(follower.trusted).toBe(false);
  });
});
