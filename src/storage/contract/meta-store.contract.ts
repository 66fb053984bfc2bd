import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { MetaStore } from '../store.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';

/** The behaviour every MetaStore adapter must have (storage/store.ts). */
export function describeMetaStoreContract(name: string, factory: ContractFactory<MetaStore>): void {
  describe(`${name}: MetaStore contract`, () => {
    let subject: ContractSubject<MetaStore>;
    let store: MetaStore;
    let peer: MetaStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('get of a missing key is null', async () => {
      expect(await store.get('missing')).toBeNull();
    });

    test('set then get from either connection; set replaces', async () => {
      await store.set('k', 'one');
      expect(await peer.get('k')).toBe('one');
      await peer.set('k', 'two');
      expect(await store.get('k')).toBe('two');
    });

    test('an empty string is a value, not an absence', async () => {
      await store.set('k', '');
      expect(await peer.get('k')).toBe('');
      expect(await peer.putIfAbsent('k', 'other')).toBe('');
    });

    test('putIfAbsent stores when absent and returns the stored value', async () => {
      expect(await store.putIfAbsent('k', 'first')).toBe('first');
      expect(await peer.get('k')).toBe('first');
    });

    test('putIfAbsent keeps and returns an existing value', async () => {
      await store.putIfAbsent('k', 'first');
      expect(await peer.putIfAbsent('k', 'second')).toBe('first');
      expect(await store.get('k')).toBe('first');
    });

    test('keys are independent', async () => {
      await store.set('a', '1');
      await store.putIfAbsent('b', '2');
      expect(await peer.get('a')).toBe('1');
      expect(await peer.get('b')).toBe('2');
      expect(await peer.get('c')).toBeNull();
    });

    test('concurrent putIfAbsent across both connections: every caller sees the one winning value', async () => {
      const results = await race(subject, (s, i) => s.putIfAbsent('k', `value-${i}`));
      const stored = await store.get('k');
      expect(stored).toMatch(/^value-\d+$/);
      expect(new Set(results)).toEqual(new Set([stored]));
    });
  });
}
