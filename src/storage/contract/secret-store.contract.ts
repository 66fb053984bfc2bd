import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { SecretStore } from '../../secrets/secret-store.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';

/** The behaviour every SecretStore adapter must have (secrets/secret-store.ts). */
export function describeSecretStoreContract(name: string, factory: ContractFactory<SecretStore>): void {
  describe(`${name}: SecretStore contract`, () => {
    let subject: ContractSubject<SecretStore>;
    let store: SecretStore;
    let peer: SecretStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('put then get from either connection', async () => {
      const record = { name: 'weather-token', sealed: 'v1.0011223344556677.bm9uY2U.Y3Q.dGFn', updatedAt: 1_000 };
      await store.put(record);
      expect(await store.get('weather-token')).toEqual(record);
      expect(await peer.get('weather-token')).toEqual(record);
    });

    test('get of a missing name is null', async () => {
      expect(await store.get('missing')).toBeNull();
    });

    test('put replaces the sealed value and the update time', async () => {
      await store.put({ name: 'token', sealed: 'first', updatedAt: 1_000 });
      await peer.put({ name: 'token', sealed: 'second', updatedAt: 2_000 });
      expect(await store.get('token')).toEqual({ name: 'token', sealed: 'second', updatedAt: 2_000 });
      expect(await store.list()).toHaveLength(1);
    });

    test('list is empty on a fresh store, then in name order', async () => {
      expect(await store.list()).toEqual([]);
      await store.put({ name: 'b', sealed: 'sb', updatedAt: 1 });
      await store.put({ name: 'c', sealed: 'sc', updatedAt: 3 });
      await store.put({ name: 'a', sealed: 'sa', updatedAt: 2 });
      expect(await peer.list()).toEqual([
        { name: 'a', sealed: 'sa', updatedAt: 2 },
        { name: 'b', sealed: 'sb', updatedAt: 1 },
        { name: 'c', sealed: 'sc', updatedAt: 3 },
      ]);
    });

    test('remove deletes once, then is false', async () => {
      await store.put({ name: 'token', sealed: 's', updatedAt: 1 });
      await store.put({ name: 'other', sealed: 'o', updatedAt: 1 });
      expect(await peer.remove('token')).toBe(true);
      expect(await store.get('token')).toBeNull();
      expect(await store.remove('token')).toBe(false);
      expect(await store.remove('never-existed')).toBe(false);
      expect((await store.list()).map((s) => s.name)).toEqual(['other']);
    });

    test('concurrent puts of one name leave exactly one of the written records', async () => {
      const written = await race(subject, async (s, i) => {
        const record = { name: 'token', sealed: `sealed-${i}`, updatedAt: i };
        await s.put(record);
        return record;
      });
      const stored = await peer.list();
      expect(stored).toHaveLength(1);
      expect(written).toContainEqual(stored[0]);
    });

    test('concurrent removes of one name: exactly one is true', async () => {
      await store.put({ name: 'token', sealed: 's', updatedAt: 1 });
      const results = await race(subject, (s) => s.remove('token'));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
