import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { UserStore } from '../../accounts/user-store.js';
import type { SessionStore } from '../../sessions/session-store.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';
import { idHash, sessionRecord, userRecord } from './fixtures.js';

/** The behaviour every SessionStore adapter must have (sessions/session-store.ts). */
export function describeSessionStoreContract(name: string, factory: ContractFactory<SessionStore>): void {
  describe(`${name}: SessionStore contract`, () => {
    let subject: ContractSubject<SessionStore>;
    let store: SessionStore;
    let peer: SessionStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('create stores every field, and get returns it from either connection', async () => {
      const session = sessionRecord({
        idHash: idHash(1),
        handle: 'handle-1',
        createdAt: 10,
        lastSeenAt: 20,
        expiresAt: 30,
        ip: '2001:db8::1',
        userAgent: 'agent "with" quotes',
        passwordResetRequired: true,
        mfaPending: true,
        mfaCompleted: true,
      });
      await store.create(session);
      expect(await store.get(idHash(1))).toEqual(session);
      expect(await peer.get(idHash(1))).toEqual(session);
    });

    test('get of a missing id is null', async () => {
      expect(await store.get(idHash(404))).toBeNull();
    });

    test('create refuses an id hash that exists and keeps the original', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'first', userName: 'alice' }));
      await expect(peer.create(sessionRecord({ idHash: idHash(1), handle: 'second', userName: 'mallory' }))).rejects.toThrow();
      expect(await store.get(idHash(1))).toMatchObject({ handle: 'first', userName: 'alice' });
    });

    test('create refuses a handle that exists', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'same' }));
      await expect(peer.create(sessionRecord({ idHash: idHash(2), handle: 'same' }))).rejects.toThrow();
      expect(await store.get(idHash(2))).toBeNull();
    });

    test('touch moves lastSeenAt forward, never back', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), lastSeenAt: 100 }));
      await peer.touch(idHash(1), 200);
      expect((await store.get(idHash(1)))?.lastSeenAt).toBe(200);
      await store.touch(idHash(1), 150);
      expect((await peer.get(idHash(1)))?.lastSeenAt).toBe(200);
      await store.touch(idHash(1), 200);
      expect((await store.get(idHash(1)))?.lastSeenAt).toBe(200);
    });

    test('touch changes nothing else', async () => {
      const session = sessionRecord({ idHash: idHash(1), lastSeenAt: 100 });
      await store.create(session);
      await store.touch(idHash(1), 500);
      expect(await store.get(idHash(1))).toEqual({ ...session, lastSeenAt: 500 });
    });

    test('touchAll records every session of the batch at once, forward only, and skips missing ids', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'one', lastSeenAt: 100 }));
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'two', lastSeenAt: 300 }));
      await peer.touchAll(new Map([[idHash(1), 200], [idHash(2), 250], [idHash(404), 500]]));
      expect((await store.get(idHash(1)))?.lastSeenAt).toBe(200);
      expect((await store.get(idHash(2)))?.lastSeenAt).toBe(300);
      expect(await store.get(idHash(404))).toBeNull();
      await store.touchAll(new Map());
      expect((await peer.list()).map((s) => s.lastSeenAt).sort()).toEqual([200, 300]);
    });

    test('touch of a missing id does nothing and creates nothing', async () => {
      await store.touch(idHash(404), 500);
      expect(await store.get(idHash(404))).toBeNull();
      expect(await store.list()).toEqual([]);
    });

    test('rotate moves the session to the new id, keeps every other field, applies the patch', async () => {
      const old = sessionRecord({ idHash: idHash(1), handle: 'kept', passwordResetRequired: true, mfaPending: true, lastSeenAt: 1_500 });
      await store.create(old);
      expect(await peer.rotate(idHash(1), idHash(2), { passwordResetRequired: false })).not.toBeNull();
      expect(await store.get(idHash(1))).toBeNull();
      expect(await store.get(idHash(2))).toEqual({ ...old, idHash: idHash(2), passwordResetRequired: false });
      expect(await peer.list()).toHaveLength(1);
    });

    test('rotate with an empty patch, or undefined values in it, changes only the id', async () => {
      const old = sessionRecord({ idHash: idHash(1), mfaPending: true, mfaCompleted: false });
      await store.create(old);
      expect(await store.rotate(idHash(1), idHash(2), {})).not.toBeNull();
      expect(await store.rotate(idHash(2), idHash(3), { mfaPending: undefined })).not.toBeNull();
      expect(await store.get(idHash(3))).toEqual({ ...old, idHash: idHash(3) });
    });

    test('rotate applies every patchable field', async () => {
      await store.create(sessionRecord({ idHash: idHash(1) }));
      await store.rotate(idHash(1), idHash(2), { passwordResetRequired: true, mfaPending: true, mfaCompleted: true });
      expect(await store.get(idHash(2))).toMatchObject({ passwordResetRequired: true, mfaPending: true, mfaCompleted: true });
    });

    test('rotate of a missing session is false and creates nothing', async () => {
      expect(await store.rotate(idHash(1), idHash(2), {})).toBeNull();
      expect(await store.get(idHash(2))).toBeNull();
      expect(await store.list()).toEqual([]);
    });

    test('an old id cannot be rotated twice', async () => {
      await store.create(sessionRecord({ idHash: idHash(1) }));
      expect(await store.rotate(idHash(1), idHash(2), {})).not.toBeNull();
      expect(await peer.rotate(idHash(1), idHash(3), {})).toBeNull();
      expect(await store.get(idHash(3))).toBeNull();
    });

    test('concurrent rotations of one session across both connections: exactly one wins, one session remains', async () => {
      const old = sessionRecord({ idHash: idHash(1) });
      await store.create(old);
      const results = await race(subject, (s, i) => s.rotate(idHash(1), idHash(100 + i), {}));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.findIndex((r) => r !== null);
      const remaining = await peer.list();
      expect(remaining).toEqual([{ ...old, idHash: idHash(100 + winner) }]);
      expect(await store.get(idHash(1))).toBeNull();
    });

    test('a rotation racing the deletion of its user\'s sessions never leaves a session behind, whichever wins', async () => {
      for (let round = 0; round < 30; round += 1) {
        await store.create(sessionRecord({ idHash: idHash(1), handle: `r${round}`, userName: 'alice' }));
        const [rotated, deleted] = await Promise.all([store.rotate(idHash(1), idHash(2), { mfaCompleted: true }), peer.deleteByUser('alice')]);
        expect(await store.list({ userName: 'alice' })).toEqual([]);
        // Either the deletion took the rotated session, or the rotation found nothing left to rotate.
        expect(deleted.count).toBe(1);
        expect(rotated === null || typeof rotated.seq === 'number').toBe(true);
      }
    });

    test('batches of activity over the same sessions in opposite orders, racing revocations, all succeed', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => idHash(i + 1));
      for (const [i, id] of ids.entries()) await store.create(sessionRecord({ idHash: id, handle: `t${i}`, userName: i % 2 === 0 ? 'alice' : 'bob', lastSeenAt: 0 }));
      for (let round = 1; round <= 10; round += 1) {
        const forward = new Map(ids.map((id) => [id, round * 10]));
        const backward = new Map([...ids].reverse().map((id) => [id, round * 10 + 1]));
        await Promise.all([store.touchAll(forward), peer.touchAll(backward), store.touchAll(backward), peer.touchAll(forward)]);
      }
      const [, , deleted] = await Promise.all([store.touchAll(new Map(ids.map((id) => [id, 500]))), peer.touchAll(new Map([...ids].reverse().map((id) => [id, 501]))), peer.deleteByUser('alice')]);
      expect(deleted.count).toBe(20);
      expect((await store.list()).map((s) => s.lastSeenAt)).toEqual(Array.from({ length: 20 }, () => 501));
    });

    test('an id hash holding a NUL character finds nothing and changes nothing', async () => {
      await store.create(sessionRecord({ idHash: idHash(1) }));
      const odd = `${idHash(1).slice(0, 63)}\u0000`;
      expect(await store.get(odd)).toBeNull();
      expect(await store.delete(odd)).toBeNull();
      expect(await store.deleteIdle(odd, 9_999_999)).toBeNull();
      expect(await store.rotate(odd, idHash(2), {})).toBeNull();
      await store.touch(odd, 5_000);
      expect(await store.list()).toEqual([sessionRecord({ idHash: idHash(1) })]);
    });

    test('concurrent touches leave the latest time', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), lastSeenAt: 0 }));
      const times = [7, 3, 19, 1, 12, 19, 5, 18, 2, 11, 4, 9, 15, 8, 6, 14, 13, 10, 16, 17];
      await race(subject, (s, i) => s.touch(idHash(1), times[i] ?? 0));
      expect((await store.get(idHash(1)))?.lastSeenAt).toBe(19);
    });

    test('delete returns what it deleted, then null', async () => {
      const session = sessionRecord({ idHash: idHash(1) });
      await store.create(session);
      expect(await peer.delete(idHash(1))).toEqual({ session: session, seq: expect.any(Number) });
      expect(await store.get(idHash(1))).toBeNull();
      expect(await store.delete(idHash(1))).toBeNull();
    });

    test('concurrent deletes of one session: exactly one gets the record', async () => {
      await store.create(sessionRecord({ idHash: idHash(1) }));
      const results = await race(subject, (s) => s.delete(idHash(1)));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });

    test('deleteIdle deletes only a session whose last activity is before the time given, as of the delete, and logs it', async () => {
      const one = sessionRecord({ idHash: idHash(1), handle: 'one', lastSeenAt: 5_000 });
      await store.create(one);
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'two', lastSeenAt: 5_000 }));
      expect(await peer.deleteIdle(idHash(1), 5_000)).toBeNull();
      // Activity written by another connection after the caller read the session saves it.
      await store.touch(idHash(1), 6_000);
      expect(await peer.deleteIdle(idHash(1), 5_001)).toBeNull();
      expect(await peer.deleteIdle(idHash(1), 6_001)).toEqual({ session: { ...one, lastSeenAt: 6_000 }, seq: expect.any(Number) });
      expect(await store.get(idHash(1))).toBeNull();
      expect(await store.deleteIdle(idHash(1), 9_000)).toBeNull();
      expect(await store.get(idHash(2))).not.toBeNull();
    });

    test('deleteByHandle deletes that session only, then is null', async () => {
      const one = sessionRecord({ idHash: idHash(1), handle: 'one' });
      await store.create(one);
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'two' }));
      expect(await peer.deleteByHandle('one')).toEqual({ session: one, seq: expect.any(Number) });
      expect(await store.get(idHash(1))).toBeNull();
      expect(await store.get(idHash(2))).not.toBeNull();
      expect(await store.deleteByHandle('one')).toBeNull();
      expect(await store.deleteByHandle('missing')).toBeNull();
    });

    test('deleteByUser deletes every session of that user only', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'a1', userName: 'alice' }));
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'a2', userName: 'alice' }));
      await store.create(sessionRecord({ idHash: idHash(3), handle: 'b1', userName: 'bob' }));
      expect((await peer.deleteByUser('alice')).count).toBe(2);
      expect((await store.list()).map((s) => s.handle)).toEqual(['b1']);
      expect((await store.deleteByUser('alice')).count).toBe(0);
      expect((await store.deleteByUser('nobody')).count).toBe(0);
    });

    test('deleteByUser can spare one session', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'a1', userName: 'alice' }));
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'a2', userName: 'alice' }));
      await store.create(sessionRecord({ idHash: idHash(3), handle: 'a3', userName: 'alice' }));
      expect((await store.deleteByUser('alice', idHash(2))).count).toBe(2);
      expect((await peer.list()).map((s) => s.handle)).toEqual(['a2']);
    });

    test('deleteByUser sparing an id of another user spares nothing of this one', async () => {
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'a1', userName: 'alice' }));
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'b1', userName: 'bob' }));
      expect((await store.deleteByUser('alice', idHash(2))).count).toBe(1);
      expect((await store.list()).map((s) => s.handle)).toEqual(['b1']);
    });

    test('deleteAll deletes everything and counts it', async () => {
      expect((await store.deleteAll()).count).toBe(0);
      for (const n of [1, 2, 3]) await store.create(sessionRecord({ idHash: idHash(n), handle: `h${n}` }));
      expect((await peer.deleteAll()).count).toBe(3);
      expect(await store.list()).toEqual([]);
    });

    test('list is newest first, and filters by user', async () => {
      expect(await store.list()).toEqual([]);
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'old', userName: 'alice', createdAt: 100 }));
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'new', userName: 'alice', createdAt: 300 }));
      await store.create(sessionRecord({ idHash: idHash(3), handle: 'mid', userName: 'bob', createdAt: 200 }));
      expect((await peer.list()).map((s) => s.handle)).toEqual(['new', 'mid', 'old']);
      expect((await peer.list({})).map((s) => s.handle)).toEqual(['new', 'mid', 'old']);
      expect((await store.list({ userName: 'alice' })).map((s) => s.handle)).toEqual(['new', 'old']);
      expect(await store.list({ userName: 'nobody' })).toEqual([]);
    });

    test('purgeExpired removes idle and past-absolute sessions, keeps the rest, counts them', async () => {
      const now = 10_000;
      const idleBefore = 8_000;
      await store.create(sessionRecord({ idHash: idHash(1), handle: 'idle', lastSeenAt: 7_999, expiresAt: 20_000 }));
      await store.create(sessionRecord({ idHash: idHash(2), handle: 'at-idle-edge', lastSeenAt: 8_000, expiresAt: 20_000 }));
      await store.create(sessionRecord({ idHash: idHash(3), handle: 'expired', lastSeenAt: 9_999, expiresAt: 10_000 }));
      await store.create(sessionRecord({ idHash: idHash(4), handle: 'live', lastSeenAt: 9_999, expiresAt: 10_001 }));
      expect(await peer.countActive(now, idleBefore)).toBe(2);
      expect(await peer.purgeExpired(now, idleBefore)).toBe(2);
      expect(await store.countActive(now, idleBefore)).toBe(2);
      expect((await store.list()).map((s) => s.handle).sort()).toEqual(['at-idle-edge', 'live']);
      expect(await store.purgeExpired(now, idleBefore)).toBe(0);
    });
  });
}

/** SessionStore.getWithUser needs users as well: the subject is a backend's session and user stores. */
export function describeSessionWithUserContract(name: string, factory: ContractFactory<{ sessions: SessionStore; users: UserStore }>): void {
  describe(`${name}: SessionStore.getWithUser contract`, () => {
    let subject: ContractSubject<{ sessions: SessionStore; users: UserStore }>;

    beforeEach(async () => {
      subject = await factory();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('returns the session and its user as they are stored now, from either connection', async () => {
      const { store, peer } = subject;
      const session = sessionRecord({ idHash: idHash(1), userName: 'alice', mfaCompleted: true });
      const alice = userRecord({ name: 'alice', roles: ['user', 'admin'], mfaEnabled: true, lastLoginAt: 5_000 });
      await store.users.create(alice);
      await store.sessions.create(session);
      expect(await peer.sessions.getWithUser(idHash(1))).toEqual({ session, user: alice });
      // A change to the user through the other connection is seen on the next read (a lock, new roles).
      await peer.users.update('alice', { locked: true, roles: ['user'] });
      expect(await store.sessions.getWithUser(idHash(1))).toEqual({ session, user: { ...alice, locked: true, roles: ['user'] } });
    });

    test('reads repeated without a change agree; any write through either connection is seen by the next read', async () => {
      const { store, peer } = subject;
      const alice = userRecord({ name: 'alice' });
      const session = sessionRecord({ idHash: idHash(4), userName: 'alice', lastSeenAt: 100 });
      await store.users.create(alice);
      await store.sessions.create(session);
      const reads = [];
      for (let i = 0; i < 4; i++) reads.push(await store.sessions.getWithUser(idHash(4)));
      for (const read of reads) expect(read).toEqual({ session, user: alice });
      // What a caller does to its session is not what the store holds; the user is read-only.
      for (const read of reads) {
        read!.session.lastSeenAt = 999;
        expect(() => read!.user!.roles.push('admin')).toThrow(TypeError);
      }
      expect(await store.sessions.getWithUser(idHash(4))).toEqual({ session, user: alice });
      // Written through the same connection, then through the other one.
      await store.users.update('alice', { locked: true });
      expect((await store.sessions.getWithUser(idHash(4)))?.user?.locked).toBe(true);
      await store.sessions.touch(idHash(4), 200);
      expect((await store.sessions.getWithUser(idHash(4)))?.session.lastSeenAt).toBe(200);
      await peer.sessions.touch(idHash(4), 300);
      expect((await store.sessions.getWithUser(idHash(4)))?.session.lastSeenAt).toBe(300);
      await peer.sessions.delete(idHash(4));
      expect(await store.sessions.getWithUser(idHash(4))).toBeNull();
      await store.sessions.create(session);
      expect(await store.sessions.getWithUser(idHash(4))).toEqual({ session, user: { ...alice, locked: true } });
      await store.sessions.deleteByUser('alice');
      expect(await store.sessions.getWithUser(idHash(4))).toBeNull();
    });

    test('user is null once the user is gone; null for a missing session', async () => {
      const { store, peer } = subject;
      await store.users.create(userRecord({ name: 'bob' }));
      await store.sessions.create(sessionRecord({ idHash: idHash(2), userName: 'bob' }));
      await peer.users.remove('bob');
      expect(await store.sessions.getWithUser(idHash(2))).toEqual({ session: await store.sessions.get(idHash(2)), user: null });
      expect(await store.sessions.getWithUser(idHash(404))).toBeNull();
    });

    test('an id hash holding a NUL character is no session', async () => {
      expect(await subject.store.sessions.getWithUser(`${idHash(1).slice(0, 63)}\u0000`)).toBeNull();
    });

    test('never returns another user of a similar name', async () => {
      const { store } = subject;
      await store.users.create(userRecord({ name: 'Carol' }));
      await store.sessions.create(sessionRecord({ idHash: idHash(3), userName: 'carol' }));
      expect((await store.sessions.getWithUser(idHash(3)))?.user).toBeNull();
    });
  });
}
