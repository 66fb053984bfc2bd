import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { UserStore } from '../../accounts/user-store.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';
import { userRecord } from './fixtures.js';

/** The behaviour every UserStore adapter must have (accounts/user-store.ts). */
export function describeUserStoreContract(name: string, factory: ContractFactory<UserStore>): void {
  describe(`${name}: UserStore contract`, () => {
    let subject: ContractSubject<UserStore>;
    let store: UserStore;
    let peer: UserStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('create stores every field, and get returns it from either connection', async () => {
      const alice = userRecord({
        roles: ['user', 'admin'],
        locked: true,
        passwordResetRequired: true,
        mfaEnabled: true,
        createdAt: 1_234,
        lastLoginAt: 5_678,
      });
      expect(await store.create(alice)).toBe(true);
      expect(await store.get('alice')).toEqual(alice);
      expect(await peer.get('alice')).toEqual(alice);
    });

    test('create keeps an empty role list and a null last login', async () => {
      await store.create(userRecord({ roles: [], lastLoginAt: null }));
      expect(await peer.get('alice')).toMatchObject({ roles: [], lastLoginAt: null, locked: false });
    });

    test('create refuses a taken name and changes nothing', async () => {
      expect(await store.create(userRecord({ passwordHash: 'first' }))).toBe(true);
      expect(await peer.create(userRecord({ passwordHash: 'second', roles: ['admin'] }))).toBe(false);
      expect(await store.get('alice')).toMatchObject({ passwordHash: 'first', roles: ['user'] });
    });

    test('names are case-sensitive and exact', async () => {
      await store.create(userRecord({ name: 'alice' }));
      expect(await store.create(userRecord({ name: 'Alice' }))).toBe(true);
      expect(await store.get('alice ')).toBeNull();
      expect(await store.get('ALICE')).toBeNull();
    });

    test('a name holding a NUL character (one a client may send) finds nothing and changes nothing', async () => {
      await store.create(userRecord({ name: 'alice' }));
      expect(await store.get('alice\u0000')).toBeNull();
      expect(await store.update('alice\u0000', { locked: true })).toBe(false);
      expect(await store.remove('alice\u0000')).toBe(false);
      expect(await store.get('alice')).toEqual(userRecord({ name: 'alice' }));
    });

    test('get of a missing user is null', async () => {
      expect(await store.get('nobody')).toBeNull();
    });

    test('list is empty on a fresh store, then in name order', async () => {
      expect(await store.list()).toEqual([]);
      for (const n of ['carol', 'alice', 'bob']) await store.create(userRecord({ name: n }));
      expect((await peer.list()).map((u) => u.name)).toEqual(['alice', 'bob', 'carol']);
    });

    test('update applies only the fields in the patch', async () => {
      const alice = userRecord();
      await store.create(alice);
      expect(await peer.update('alice', { locked: true, lastLoginAt: 9_000 })).toBe(true);
      expect(await store.get('alice')).toEqual({ ...alice, locked: true, lastLoginAt: 9_000 });

      expect(await store.update('alice', { roles: ['admin'], passwordHash: 'new-hash', passwordResetRequired: true, mfaEnabled: true })).toBe(true);
      expect(await peer.get('alice')).toEqual({
        ...alice, locked: true, lastLoginAt: 9_000, roles: ['admin'], passwordHash: 'new-hash', passwordResetRequired: true, mfaEnabled: true,
      });
    });

    test('update can set a flag back to false and lastLoginAt back to null', async () => {
      await store.create(userRecord({ locked: true, passwordResetRequired: true, mfaEnabled: true, lastLoginAt: 5 }));
      await store.update('alice', { locked: false, passwordResetRequired: false, mfaEnabled: false, lastLoginAt: null });
      expect(await store.get('alice')).toMatchObject({ locked: false, passwordResetRequired: false, mfaEnabled: false, lastLoginAt: null });
    });

    test('update with an empty patch changes nothing and reports whether the user exists', async () => {
      const alice = userRecord();
      await store.create(alice);
      expect(await store.update('alice', {})).toBe(true);
      expect(await store.get('alice')).toEqual(alice);
      expect(await store.update('nobody', {})).toBe(false);
    });

    test('update of a missing user is false and creates nothing', async () => {
      expect(await store.update('nobody', { locked: true })).toBe(false);
      expect(await store.get('nobody')).toBeNull();
    });

    test('remove deletes once, then is false', async () => {
      await store.create(userRecord());
      await store.create(userRecord({ name: 'bob' }));
      expect(await peer.remove('alice')).toBe(true);
      expect(await store.get('alice')).toBeNull();
      expect(await store.remove('alice')).toBe(false);
      expect((await store.list()).map((u) => u.name)).toEqual(['bob']);
    });

    test('a removed name can be created again', async () => {
      await store.create(userRecord({ passwordHash: 'old' }));
      await store.remove('alice');
      expect(await peer.create(userRecord({ passwordHash: 'new' }))).toBe(true);
      expect(await store.get('alice')).toMatchObject({ passwordHash: 'new' });
    });

    test('concurrent creates of one name across both connections: exactly one wins', async () => {
      const results = await race(subject, (s, i) => s.create(userRecord({ passwordHash: `hash-${i}` })));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await store.get('alice')).toMatchObject({ passwordHash: `hash-${winner}` });
      expect(await peer.list()).toHaveLength(1);
    });

    test('concurrent creates of different names all succeed', async () => {
      const results = await race(subject, (s, i) => s.create(userRecord({ name: `user-${String(i).padStart(2, '0')}` })));
      expect(results.every(Boolean)).toBe(true);
      expect(await store.list()).toHaveLength(results.length);
    });
  });
}
