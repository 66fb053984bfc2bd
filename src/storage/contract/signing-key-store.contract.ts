import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { signingKeyAad, type NewSigningKey, type SigningKeyStore } from '../../trust/signing-key-store.js';
import { race, racers, type ContractFactory, type ContractSubject } from './contract-subject.js';

/** A key to store: kid and values readable in failures; sealedPrivateKey has the envelope's shape. */
function newKey(n: number, createdAt = 1_000 * n): NewSigningKey {
  return {
    kid: `kid-${n}`,
    sealedPrivateKey: `v1.0011223344556677.bm9uY2U.cHJpdmF0ZS0${n}.dGFn`,
    createdAt,
  };
}

const day = 86_400_000;

/** The behaviour every SigningKeyStore adapter must have (trust/signing-key-store.ts). */
export function describeSigningKeyStoreContract(name: string, factory: ContractFactory<SigningKeyStore>): void {
  describe(`${name}: SigningKeyStore contract`, () => {
    let subject: ContractSubject<SigningKeyStore>;
    let store: SigningKeyStore;
    let peer: SigningKeyStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    const active = async (s: SigningKeyStore): Promise<string[]> => (await s.list()).filter((k) => k.retiredAt === null).map((k) => k.kid);

    test('a fresh store has no key', async () => {
      expect(await store.list()).toEqual([]);
      expect(await store.listSealed()).toEqual([]);
    });

    test('addFirst stores an active key with every field, seen from either connection', async () => {
      expect(await store.addFirst(newKey(1))).toBe(true);
      const expected = { ...newKey(1), retiredAt: null, publishedUntil: null };
      expect(await store.list()).toEqual([expected]);
      expect(await peer.list()).toEqual([expected]);
    });

    test('addFirst does nothing while a key is active', async () => {
      await store.addFirst(newKey(1));
      expect(await peer.addFirst(newKey(2))).toBe(false);
      expect((await store.list()).map((k) => k.kid)).toEqual(['kid-1']);
    });

    test('concurrent addFirst across both connections: exactly one wins, one key is active', async () => {
      const results = await race(subject, (s, i) => s.addFirst(newKey(i + 1)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = `kid-${results.indexOf(true) + 1}`;
      expect(await active(store)).toEqual([winner]);
      expect(await peer.list()).toHaveLength(1);
    });

    test('rotate retires the active key with its grace end and makes the new one active, in one step', async () => {
      await store.addFirst(newKey(1));
      expect(await peer.rotate(newKey(2, 5_000), 5_000 + day)).toEqual(['kid-1']);
      expect(await store.list()).toEqual([
        { ...newKey(2, 5_000), retiredAt: null, publishedUntil: null },
        { ...newKey(1), retiredAt: 5_000, publishedUntil: 5_000 + day },
      ]);
    });

    test('rotate on a store without a key just adds it; addFirst then does nothing', async () => {
      expect(await store.rotate(newKey(1), 1_000 + day)).toEqual([]);
      expect(await active(peer)).toEqual(['kid-1']);
      expect(await peer.addFirst(newKey(2))).toBe(false);
    });

    test('rotate leaves a key already retired as it was', async () => {
      await store.addFirst(newKey(1));
      await store.rotate(newKey(2, 2_000), 2_000 + day);
      expect(await store.rotate(newKey(3, 3_000), 3_000 + day)).toEqual(['kid-2']);
      expect((await peer.list()).map((k) => [k.kid, k.retiredAt, k.publishedUntil])).toEqual([
        ['kid-3', null, null],
        ['kid-2', 3_000, 3_000 + day],
        ['kid-1', 2_000, 2_000 + day],
      ]);
    });

    test('rotate refuses a kid that is already stored and changes nothing', async () => {
      await store.addFirst(newKey(1));
      await expect(store.rotate(newKey(1, 2_000), 2_000 + day)).rejects.toThrow();
      expect(await store.list()).toEqual([{ ...newKey(1), retiredAt: null, publishedUntil: null }]);
    });

    test('concurrent rotations across both connections: every new key stored, exactly one active', async () => {
      await store.addFirst(newKey(0, 0));
      const retired = await race(subject, (s, i) => s.rotate(newKey(i + 1, 10 + i), 10 + i + day));
      const keys = await peer.list();
      expect(keys).toHaveLength(racers + 1);
      expect(await active(store)).toHaveLength(1);
      // Each rotation retired exactly the key that was active when it ran: every key but the last
      // is retired exactly once.
      expect(retired.flat().sort()).toEqual(keys.filter((k) => k.retiredAt !== null).map((k) => k.kid).sort());
      for (const one of retired) expect(one).toHaveLength(1);
    });

    test('purge deletes retired keys whose grace ended, and never the active one', async () => {
      await store.addFirst(newKey(1));
      await store.rotate(newKey(2, 2_000), 2_000 + day);
      await store.rotate(newKey(3, 3_000), 3_000 + 10);
      expect(await peer.purge(3_009)).toBe(0);
      expect(await peer.purge(3_010)).toBe(1);
      expect((await store.list()).map((k) => k.kid)).toEqual(['kid-3', 'kid-1']);
      expect(await store.purge(Number.MAX_SAFE_INTEGER)).toBe(1);
      expect((await store.list()).map((k) => k.kid)).toEqual(['kid-3']);
    });

    test('listSealed gives every key with its aad; replaceSealed is compare-and-set', async () => {
      await store.addFirst(newKey(1));
      await store.rotate(newKey(2, 2_000), 2_000 + day);
      expect(await peer.listSealed()).toEqual([
        { id: 'kid-1', aad: signingKeyAad('kid-1'), sealed: newKey(1).sealedPrivateKey },
        { id: 'kid-2', aad: signingKeyAad('kid-2'), sealed: newKey(2).sealedPrivateKey },
      ]);
      expect(await peer.replaceSealed('kid-1', newKey(1).sealedPrivateKey, 'resealed-1')).toBe(true);
      expect(await store.replaceSealed('kid-1', newKey(1).sealedPrivateKey, 'again')).toBe(false);
      expect(await store.replaceSealed('kid-9', 'anything', 'again')).toBe(false);
      const kid1 = (await store.list()).find((k) => k.kid === 'kid-1');
      expect(kid1).toEqual({ ...newKey(1), sealedPrivateKey: 'resealed-1', retiredAt: 2_000, publishedUntil: 2_000 + day });
    });

    test('concurrent replaceSealed of one value: exactly one succeeds', async () => {
      await store.addFirst(newKey(1));
      const results = await race(subject, (s, i) => s.replaceSealed('kid-1', newKey(1).sealedPrivateKey, `resealed-${i}`));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await peer.listSealed())[0]!.sealed).toBe(`resealed-${results.indexOf(true)}`);
    });
  });
}
