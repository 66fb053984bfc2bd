import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { NodeRegistry } from '../../cluster/node-registry.js';
import type { ConnectionSlots } from '../../realtime/connection-slots.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';

export interface SlotsSubject {
  connectionSlots: ConnectionSlots;
  nodes: NodeRegistry;
}

const window = 10_000;

/**
 * A session's open WebSockets counted in the store (realtime/connection-slots.ts). Liveness is the
 * node registry's, by the database's clock, which a test cannot move: the crash case waits a few
 * tens of milliseconds with a short window instead.
 */
export function describeConnectionSlotsContract(name: string, factory: ContractFactory<SlotsSubject>): void {
  describe(`${name}: connection slots contract`, () => {
    let subject: ContractSubject<SlotsSubject>;

    beforeEach(async () => {
      subject = await factory();
      await subject.store.nodes.beat('node-a', 0);
      await subject.peer.nodes.beat('node-b', 0);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('the limit holds across both connections; another session has its own; a release frees one slot for everyone', async () => {
      const { store, peer } = subject;
      for (let i = 0; i < 3; i++) {
        expect(await (i % 2 === 0 ? store : peer).connectionSlots.take('h1', `s${i}`, i % 2 === 0 ? 'node-a' : 'node-b', 3, window)).toBe(true);
      }
      expect(await store.connectionSlots.take('h1', 's3', 'node-a', 3, window)).toBe(false);
      expect(await peer.connectionSlots.take('h1', 's4', 'node-b', 3, window)).toBe(false);
      expect(await peer.connectionSlots.take('h2', 's5', 'node-b', 3, window)).toBe(true);
      await store.connectionSlots.release('s1');
      expect(await peer.connectionSlots.take('h1', 's6', 'node-b', 3, window)).toBe(true);
      expect(await store.connectionSlots.take('h1', 's7', 'node-a', 3, window)).toBe(false);
    });

    test('a release is idempotent and an unknown slot is no error: it never frees another slot', async () => {
      const { store, peer } = subject;
      expect(await store.connectionSlots.take('h1', 's1', 'node-a', 1, window)).toBe(true);
      await peer.connectionSlots.release('nope');
      expect(await peer.connectionSlots.take('h1', 's2', 'node-b', 1, window)).toBe(false);
      await store.connectionSlots.release('s1');
      await store.connectionSlots.release('s1');
      expect(await peer.connectionSlots.take('h1', 's2', 'node-b', 1, window)).toBe(true);
      expect(await store.connectionSlots.take('h1', 's3', 'node-a', 1, window)).toBe(false);
    });

    test('30 takers at once on two connections for one session: exactly the limit pass', async () => {
      const results = await race(subject, (side, i) => side.connectionSlots.take('h1', `s${i}`, i % 2 === 0 ? 'node-a' : 'node-b', 20, window), 30);
      expect(results.filter(Boolean)).toHaveLength(20);
    });

    test('a node silent past the window stops counting; purge deletes the slots of a node the registry forgot', async () => {
      const { store, peer } = subject;
      expect(await store.connectionSlots.take('h1', 's1', 'node-a', 2, window)).toBe(true);
      expect(await peer.connectionSlots.take('h1', 's2', 'node-b', 2, window)).toBe(true);
      expect(await peer.connectionSlots.take('h1', 's3', 'node-b', 2, window)).toBe(false);
      // node-a "crashes": it stops beating; node-b keeps beating.
      await new Promise((resolve) => setTimeout(resolve, 80));
      await peer.nodes.beat('node-b', 0);
      expect(await peer.connectionSlots.take('h1', 's3', 'node-b', 2, 40)).toBe(true);
      expect(await peer.connectionSlots.take('h1', 's4', 'node-b', 2, 40)).toBe(false);
      // A node that left (clean stop) or was purged: its slots are deleted, the others stay.
      expect(await peer.connectionSlots.purge()).toBe(0);
      await peer.nodes.purge(40);
      expect(await peer.connectionSlots.purge()).toBe(1);
      await store.nodes.beat('node-a', 0);
      expect(await store.connectionSlots.take('h1', 's5', 'node-a', 3, window)).toBe(true);
      expect(await store.connectionSlots.take('h1', 's6', 'node-a', 3, window)).toBe(false);
      await store.nodes.leave('node-b');
      expect(await store.connectionSlots.purge()).toBe(2);
      expect(await store.connectionSlots.take('h1', 's6', 'node-a', 3, window)).toBe(true);
    });
  });
}
