import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Block, BlockStore } from '../../rules/block-store.js';
import { race, racers, type ContractFactory, type ContractSubject } from './contract-subject.js';

const t0 = 10_000;

const block = (overrides: Partial<Block> = {}): Block => ({ rule: 'per-ip', by: 'ip', key: '192.0.2.1', until: t0 + 5_000, ...overrides });

/** The behaviour every BlockStore adapter must have (rules/block-store.ts). */
export function describeBlockStoreContract(name: string, factory: ContractFactory<BlockStore>): void {
  describe(`${name}: BlockStore contract`, () => {
    let subject: ContractSubject<BlockStore>;
    let store: BlockStore;
    let peer: BlockStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('a block is seen through the other connection until it ends, then not', async () => {
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBeNull();
      await store.add(block());
      expect(await peer.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 5_000);
      expect(await peer.blockedUntil('ip', '192.0.2.1', t0 + 4_999)).toBe(t0 + 5_000);
      expect(await peer.blockedUntil('ip', '192.0.2.1', t0 + 5_000)).toBeNull();
      expect(await store.blockedUntil('ip', '192.0.2.1', t0 + 6_000)).toBeNull();
    });

    test('of two blocks of one rule on one key the later end wins, whichever is written first', async () => {
      await store.add(block({ until: t0 + 5_000 }));
      await peer.add(block({ until: t0 + 3_000 }));
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 5_000);
      await peer.add(block({ until: t0 + 8_000 }));
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 8_000);
      expect(await store.list(t0)).toEqual([block({ until: t0 + 8_000 })]);
    });

    test('two rules on one key are two blocks: the key stays blocked until the later ends', async () => {
      await store.add(block({ rule: 'a', until: t0 + 5_000 }));
      await peer.add(block({ rule: 'b', until: t0 + 9_000 }));
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 9_000);
      expect(await peer.remove('b', '192.0.2.1', t0)).toEqual(block({ rule: 'b', until: t0 + 9_000 }));
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 5_000);
      expect(await store.list(t0)).toEqual([block({ rule: 'a', until: t0 + 5_000 })]);
    });

    test('the kind of key matters: an address block does not block a user of the same name', async () => {
      await store.add(block({ by: 'ip', key: 'x' }));
      expect(await peer.blockedUntil('user', 'x', t0)).toBeNull();
      expect(await peer.blockedUntil('session', 'x', t0)).toBeNull();
      expect(await peer.blockedUntil('ip', 'x', t0)).toBe(t0 + 5_000);
      expect(await peer.blockedUntil('ip', 'y', t0)).toBeNull();
    });

    test('a rule whose kind of key changed replaces its old block on that key, end included', async () => {
      await store.add(block({ rule: 'r', by: 'ip', key: 'k', until: t0 + 9_000 }));
      await peer.add(block({ rule: 'r', by: 'user', key: 'k', until: t0 + 2_000 }));
      expect(await store.blockedUntil('ip', 'k', t0)).toBeNull();
      expect(await store.blockedUntil('user', 'k', t0)).toBe(t0 + 2_000);
      expect(await store.list(t0)).toEqual([block({ rule: 'r', by: 'user', key: 'k', until: t0 + 2_000 })]);
    });

    test('list holds the active blocks only, ordered by rule, kind and key', async () => {
      await store.add(block({ rule: 'z', by: 'user', key: 'bob', until: t0 + 10 }));
      await store.add(block({ rule: 'a', by: 'session', key: 'h2', until: t0 + 20 }));
      await peer.add(block({ rule: 'a', by: 'session', key: 'h1', until: t0 + 30 }));
      await peer.add(block({ rule: 'm', by: 'ip', key: '::1', until: t0 }));
      expect(await store.list(t0)).toEqual([
        { rule: 'a', by: 'session', key: 'h1', until: t0 + 30 },
        { rule: 'a', by: 'session', key: 'h2', until: t0 + 20 },
        { rule: 'z', by: 'user', key: 'bob', until: t0 + 10 },
      ]);
      expect(await peer.list(t0 + 20)).toEqual([{ rule: 'a', by: 'session', key: 'h1', until: t0 + 30 }]);
      expect(await peer.list(t0 + 30)).toEqual([]);
    });

    test('remove lifts the block for the other connection at once and returns it', async () => {
      await store.add(block());
      expect(await peer.remove('per-ip', '192.0.2.1', t0)).toEqual(block());
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBeNull();
      expect(await store.list(t0)).toEqual([]);
      expect(await store.remove('per-ip', '192.0.2.1', t0)).toBeNull();
    });

    test('remove of an unknown block, of another rule or key, or of one that has ended is null', async () => {
      await store.add(block());
      expect(await peer.remove('other-rule', '192.0.2.1', t0)).toBeNull();
      expect(await peer.remove('per-ip', '192.0.2.2', t0)).toBeNull();
      expect(await peer.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 5_000);
      expect(await peer.remove('per-ip', '192.0.2.1', t0 + 5_000)).toBeNull();
      expect(await store.list(0)).toEqual([]);
    });

    test('a block set again after its removal blocks again', async () => {
      await store.add(block());
      await peer.remove('per-ip', '192.0.2.1', t0);
      await peer.add(block({ until: t0 + 1_000 }));
      expect(await store.blockedUntil('ip', '192.0.2.1', t0)).toBe(t0 + 1_000);
    });

    test('purge deletes the blocks that have ended and keeps the rest', async () => {
      const now = t0 + 1_500;
      await store.add(block({ key: 'ended', until: now - 1 }));
      await store.add(block({ key: 'ends-now', until: now }));
      await store.add(block({ key: 'running', until: now + 1 }));
      expect(await peer.purge(now)).toBe(2);
      // A time before any of them ended shows what is still stored.
      expect(await store.list(0)).toEqual([block({ key: 'running', until: now + 1 })]);
      expect(await peer.purge(now)).toBe(0);
    });

    test(`${racers} concurrent blocks of one rule on one key across both connections: the latest end wins`, async () => {
      const ends = Array.from({ length: racers }, (_, i) => t0 + 1_000 + ((i * 7) % racers) * 100);
      await race(subject, (s, i) => s.add(block({ until: ends[i]! })));
      expect(await store.list(t0)).toEqual([block({ until: Math.max(...ends) })]);
      expect(await peer.blockedUntil('ip', '192.0.2.1', t0)).toBe(Math.max(...ends));
    });

    test(`${racers} concurrent removals of one block across both connections: exactly one lifts it`, async () => {
      await store.add(block());
      const removed = await race(subject, (s) => s.remove('per-ip', '192.0.2.1', t0));
      expect(removed.filter((r) => r !== null)).toEqual([block()]);
    });
  });
}
