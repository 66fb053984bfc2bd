import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { LocalChannelHub, type LocalNodeChannel } from './local-node-channel.js';
import { newNodeId } from './node-messages.js';
import { confirmationTimeoutMs, RevocationConfirmations } from './revocation-confirmations.js';
import { trustForMs } from './revocation-follower.js';

/**
 * SPEC §8: the revoker answers once every other live process has applied its revocation — told on
 * the channel or shown in the registry — and waits at most its timeout (2 s in production; short
 * here). A real SQLite registry.
 */
describe('RevocationConfirmations', () => {
  let store: Store;
  let own: LocalNodeChannel;
  let other: LocalNodeChannel;
  let confirmations: RevocationConfirmations;
  const timeoutMs = 600;

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    const hub = new LocalChannelHub();
    own = hub.channel(newNodeId(cryptoRandom));
    other = hub.channel(newNodeId(cryptoRandom));
    confirmations = new RevocationConfirmations({ registry: store.nodes, channel: own, logger: silentLogger(), pollMs: 10, self: 'me', timeoutMs });
  });
  afterEach(async () => {
    confirmations.stop();
    await store.close();
  });

  async function timed(work: Promise<void>): Promise<number> {
    const start = performance.now();
    await work;
    return performance.now() - start;
  }

  it('answers at once when no other process is live (itself does not count)', async () => {
    await store.nodes.beat('me', 0);
    expect(await timed(confirmations.waitFor(5))).toBeLessThan(timeoutMs / 2);
  });

  it('waits until the registry shows the other process has applied the seq', async () => {
    await store.nodes.beat('node-bravo', 4);
    let done = false;
    const wait = confirmations.waitFor(5).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false);
    await store.nodes.beat('node-bravo', 5);
    expect(await timed(wait)).toBeLessThan(timeoutMs / 2);
  });

  it('is ended early by a confirmed message for exactly that seq, not another', async () => {
    await store.nodes.beat('node-bravo', 0);
    let done = false;
    const wait = confirmations.waitFor(7).then(() => {
      done = true;
    });
    await other.publish({ type: 'confirmed', seq: 8, by: 'node-bravo' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false);
    const start = performance.now();
    await other.publish({ type: 'confirmed', seq: 7, by: 'node-bravo' });
    await wait;
    expect(performance.now() - start).toBeLessThan(timeoutMs / 2);
  });

  it('gives up at the timeout for a live process that never confirms, and never throws', async () => {
    await store.nodes.beat('node-bravo', 0);
    const took = await timed(confirmations.waitFor(3));
    expect(took).toBeGreaterThanOrEqual(timeoutMs - 20);
    expect(took).toBeLessThan(timeoutMs + 500);
  });

  it('stops waiting for a process that leaves the registry', async () => {
    await store.nodes.beat('node-bravo', 0);
    const wait = confirmations.waitFor(3);
    await store.nodes.leave('node-bravo');
    expect(await timed(wait)).toBeLessThan(timeoutMs / 2);
  });

  it("also waits for a process the registry does not show but the channel's alive record does (cut off from PostgreSQL, trusting its memory on the channel), until it confirms", async () => {
    // Its heartbeat is stale (it cannot reach the store); it says alive on the channel.
    await other.alive('node-charlie', 0);
    let done = false;
    const wait = confirmations.waitFor(11).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done, 'answered without the alive node').toBe(false);
    const start = performance.now();
    await other.publish({ type: 'confirmed', seq: 11, by: 'node-charlie' });
    await wait;
    expect(performance.now() - start).toBeLessThan(timeoutMs / 2);
  });

  it('reads the alive record only once the announcement has gone out: a node recorded meanwhile is waited for', async () => {
    let send!: () => void;
    const announced = new Promise<void>((resolve) => (send = resolve));
    let done = false;
    const wait = confirmations.waitFor(12, announced).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done, 'answered before the announcement went out').toBe(false);
    await other.alive('node-delta', 0);
    send();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false);
    await other.publish({ type: 'confirmed', seq: 12, by: 'node-delta' });
    expect(await timed(wait)).toBeLessThan(timeoutMs / 2);
  });

  it('a node whose alive record has lapsed (1 s) is no longer waited for', async () => {
    await other.alive('node-echo', 0);
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await timed(confirmations.waitFor(13))).toBeLessThan(timeoutMs / 2);
  });

  it('waits at most 1 s by default, even on a registry read that hangs: by then no process trusts a memory older than the commit', async () => {
    expect(confirmationTimeoutMs).toBeGreaterThan(trustForMs);
    expect(confirmationTimeoutMs).toBeLessThanOrEqual(1_000);
    const hung = new RevocationConfirmations({
      registry: { live: () => new Promise(() => undefined), beat: async () => undefined, leave: async () => undefined, purge: async () => 0 },
      channel: own,
      logger: silentLogger(),
      pollMs: 10,
      self: null,
    });
    const took = await timed(hung.waitFor(9));
    hung.stop();
    expect(took).toBeGreaterThanOrEqual(confirmationTimeoutMs - 20);
    expect(took).toBeLessThan(confirmationTimeoutMs + 300);
  });
});
