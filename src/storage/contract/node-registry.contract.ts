import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { NodeRegistry } from '../../cluster/node-registry.js';
import type { ContractFactory, ContractSubject } from './contract-subject.js';

const byId = (a: { nodeId: string }, b: { nodeId: string }): number => a.nodeId.localeCompare(b.nodeId);

/**
 * The registry of serving processes (cluster/node-registry.ts). Heartbeats are the database's
 * clock, which a test cannot move: the ageing cases wait a few tens of milliseconds instead.
 */
export function describeNodeRegistryContract(name: string, factory: ContractFactory<NodeRegistry>): void {
  describe(`${name}: node registry contract`, () => {
    let subject: ContractSubject<NodeRegistry>;

    beforeEach(async () => {
      subject = await factory();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('a heartbeat is seen on the other connection with its applied seq; the seq never moves back', async () => {
      const { store, peer } = subject;
      expect(await peer.live(1_000)).toEqual([]);
      await store.beat('node-a', 3);
      await peer.beat('node-b', 0);
      expect((await peer.live(1_000)).sort(byId)).toEqual([{ nodeId: 'node-a', appliedSeq: 3 }, { nodeId: 'node-b', appliedSeq: 0 }]);
      await store.beat('node-a', 7);
      await store.beat('node-a', 5);
      expect((await peer.live(1_000)).find((n) => n.nodeId === 'node-a')).toEqual({ nodeId: 'node-a', appliedSeq: 7 });
    });

    test('a process silent for longer than the window is not live; a new heartbeat makes it live again', async () => {
      const { store, peer } = subject;
      await store.beat('node-a', 1);
      await new Promise((resolve) => setTimeout(resolve, 80));
      await store.beat('node-b', 1);
      expect((await peer.live(40)).map((n) => n.nodeId)).toEqual(['node-b']);
      await store.beat('node-a', 1);
      expect((await peer.live(40)).map((n) => n.nodeId).sort()).toEqual(['node-a', 'node-b']);
    });

    test('leave removes the process at once; purge removes only the silent ones', async () => {
      const { store, peer } = subject;
      await store.beat('node-a', 1);
      await store.beat('node-b', 1);
      await store.leave('node-a');
      expect((await peer.live(1_000)).map((n) => n.nodeId)).toEqual(['node-b']);
      await new Promise((resolve) => setTimeout(resolve, 80));
      await store.beat('node-c', 1);
      expect(await peer.purge(40)).toBe(1);
      expect((await peer.live(10_000)).map((n) => n.nodeId)).toEqual(['node-c']);
    });
  });
}
