import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { maxLeaseTtlMs, type LeaseStore } from '../../cluster/lease-store.js';
import { race, racers, type ContractFactory, type ContractSubject } from './contract-subject.js';

const t0 = 1_700_000_000_000;

/** Leases on opaque keys (cluster/lease-store.ts). Times are passed in, so expiry moves a number, never sleeps. */
export function describeLeaseStoreContract(name: string, factory: ContractFactory<LeaseStore>): void {
  describe(`${name}: lease store contract`, () => {
    let subject: ContractSubject<LeaseStore>;

    beforeEach(async () => {
      subject = await factory();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('a held key is refused to everyone else, on the other connection too, until its holder releases it', async () => {
      const { store, peer } = subject;
      expect(await store.acquire('refresh:a', 'h1', 10_000, t0)).toBe(true);
      expect(await peer.acquire('refresh:a', 'h2', 10_000, t0 + 1)).toBe(false);
      expect(await store.acquire('refresh:a', 'h1', 10_000, t0 + 1)).toBe(false);
      expect(await peer.read('refresh:a', t0 + 1)).toEqual({ holder: 'h1', failure: null });
      // Another key is another lease.
      expect(await peer.acquire('refresh:b', 'h2', 10_000, t0 + 1)).toBe(true);
      expect(await store.release('refresh:a', 'h1')).toBe(true);
      expect(await peer.read('refresh:a', t0 + 2)).toBeNull();
      expect(await peer.acquire('refresh:a', 'h2', 10_000, t0 + 2)).toBe(true);
    });

    test('only the holder releases: another holder, or the old one after a takeover, frees nothing', async () => {
      const { store, peer } = subject;
      await store.acquire('k', 'h1', 1_000, t0);
      expect(await peer.release('k', 'h2')).toBe(false);
      expect(await peer.read('k', t0 + 1)).toEqual({ holder: 'h1', failure: null });
      // h1 stalls past its TTL; h2 takes over; h1's late release must not free h2's lease.
      expect(await peer.acquire('k', 'h2', 1_000, t0 + 1_000)).toBe(true);
      expect(await store.release('k', 'h1')).toBe(false);
      expect(await store.fail('k', 'h1', 'invalid_grant', 1_000, t0 + 1_001)).toBe(false);
      expect(await store.read('k', t0 + 1_001)).toEqual({ holder: 'h2', failure: null });
    });

    test('a lease whose holder never releases it is free at exactly its expiry, and read says so', async () => {
      const { store, peer } = subject;
      await store.acquire('k', 'dead', 5_000, t0);
      expect(await peer.acquire('k', 'h2', 5_000, t0 + 4_999)).toBe(false);
      expect(await peer.read('k', t0 + 4_999)).toEqual({ holder: 'dead', failure: null });
      expect(await peer.read('k', t0 + 5_000)).toBeNull();
      expect(await peer.acquire('k', 'h2', 5_000, t0 + 5_000)).toBe(true);
      expect(await store.read('k', t0 + 5_000)).toEqual({ holder: 'h2', failure: null });
    });

    test('a recorded failure is read by the others and keeps the key until its hold ends; the next holder starts clean', async () => {
      const { store, peer } = subject;
      await store.acquire('k', 'h1', 10_000, t0);
      expect(await store.fail('k', 'h1', 'invalid_grant', 1_000, t0 + 100)).toBe(true);
      expect(await peer.read('k', t0 + 200)).toEqual({ holder: 'h1', failure: 'invalid_grant' });
      expect(await peer.acquire('k', 'h2', 10_000, t0 + 1_099)).toBe(false);
      // The hold replaces the TTL: the failure is shown for 1 s, not for the rest of the 10 s lease.
      expect(await peer.read('k', t0 + 1_100)).toBeNull();
      expect(await peer.acquire('k', 'h2', 10_000, t0 + 1_100)).toBe(true);
      expect(await store.read('k', t0 + 1_101)).toEqual({ holder: 'h2', failure: null });
    });

    test('purge forgets the expired leases and failures only', async () => {
      const { store, peer } = subject;
      await store.acquire('dead', 'h1', 1_000, t0);
      await store.acquire('failed', 'h1', 10_000, t0);
      await store.fail('failed', 'h1', 'idp_unavailable', 500, t0);
      await store.acquire('live', 'h1', 10_000, t0);
      expect(await peer.purge(t0 + 1_000)).toBe(2);
      expect(await peer.purge(t0 + 1_000)).toBe(0);
      expect(await peer.read('live', t0 + 1_000)).toEqual({ holder: 'h1', failure: null });
    });

    test(`${racers} holders racing for one key on two connections: exactly one gets it`, async () => {
      const results = await race(subject, (store, i) => store.acquire('refresh:raced', `h${i}`, 10_000, t0));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = `h${results.indexOf(true)}`;
      expect(await subject.peer.read('refresh:raced', t0)).toEqual({ holder: winner, failure: null });
    });

    test(`${racers} holders racing for one expired key: exactly one takes it over`, async () => {
      await subject.store.acquire('k', 'dead', 1_000, t0);
      const results = await race(subject, (store, i) => store.acquire('k', `h${i}`, 10_000, t0 + 2_000));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test('refuses an empty or oversized key, a TTL out of bounds and a failure that is not a short code', async () => {
      const { store } = subject;
      await expect(store.acquire('', 'h', 1_000, t0)).rejects.toThrow(RangeError);
      await expect(store.acquire('k'.repeat(257), 'h', 1_000, t0)).rejects.toThrow(RangeError);
      await expect(store.acquire('k', 'h', 0, t0)).rejects.toThrow(RangeError);
      await expect(store.acquire('k', 'h', maxLeaseTtlMs + 1, t0)).rejects.toThrow(RangeError);
      await expect(store.acquire('k', 'h', 1.5, t0)).rejects.toThrow(RangeError);
      expect(await store.acquire('k', 'h', maxLeaseTtlMs, t0)).toBe(true);
      await expect(store.fail('k', 'h', 'Bearer abc.def', 1_000, t0)).rejects.toThrow(RangeError);
      expect(await store.read('k', t0)).toEqual({ holder: 'h', failure: null });
    });
  });
}
