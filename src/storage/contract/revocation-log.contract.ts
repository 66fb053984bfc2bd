import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Revocation, RevocationLog } from '../../cluster/revocation-log.js';
import type { SessionStore } from '../../sessions/session-store.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';
import { idHash, sessionRecord } from './fixtures.js';

export interface RevocationParts {
  sessions: SessionStore;
  revocations: RevocationLog;
}

/**
 * The revocation log (cluster/revocation-log.ts) as the session store writes it: every deletion
 * that revokes appends its entry in the same transaction and answers with its seq.
 */
export function describeRevocationLogContract(name: string, factory: ContractFactory<RevocationParts>): void {
  describe(`${name}: revocation log contract`, () => {
    let subject: ContractSubject<RevocationParts>;
    let store: RevocationParts;
    let peer: RevocationParts;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    const all = async (from = 0): Promise<Revocation[]> => (await peer.revocations.since(from)).revocations;

    test('an empty log: latest 0, nothing since 0, complete', async () => {
      expect(await store.revocations.latestSeq()).toBe(0);
      expect(await store.revocations.since(0)).toEqual({ revocations: [], complete: true });
    });

    test('logUserChange appends a user entry and deletes nothing: the sessions stay, every reader learns to forget what it remembers of them', async () => {
      await store.sessions.create(sessionRecord({ idHash: idHash(1), handle: 'h1', userName: 'alice' }));
      const from = await peer.revocations.latestSeq();
      const first = await store.sessions.logUserChange('alice');
      const second = await peer.sessions.logUserChange('alice');
      expect(second.seq).toBeGreaterThan(first.seq);
      expect((await all(from)).map(({ seq, scope, subject: s }) => ({ seq, scope, subject: s }))).toEqual([
        { seq: first.seq, scope: 'user', subject: 'alice' },
        { seq: second.seq, scope: 'user', subject: 'alice' },
      ]);
      expect(await peer.sessions.get(idHash(1))).not.toBeNull();
    });

    test('every revoking verb appends one entry naming the handle, the user or nobody, with the seq it answered', async () => {
      for (const n of [1, 2, 3, 4, 5, 6]) await store.sessions.create(sessionRecord({ idHash: idHash(n), handle: `h${n}`, userName: n === 3 ? 'bob' : 'alice', lastSeenAt: 1_000 }));
      const before = Date.now();
      const deleted = await store.sessions.delete(idHash(1));
      const byHandle = await peer.sessions.deleteByHandle('h2');
      const rotated = await store.sessions.rotate(idHash(4), idHash(40), { mfaCompleted: true });
      const idle = await peer.sessions.deleteIdle(idHash(6), 1_001);
      const byUser = await peer.sessions.deleteByUser('bob');
      const everything = await store.sessions.deleteAll();
      const after = Date.now();
      expect(byUser.count).toBe(1);
      expect(everything.count).toBe(2);
      const seqs = [deleted!.seq, byHandle!.seq, rotated!.seq, idle!.seq, byUser.seq, everything.seq];
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(6);
      const log = await all();
      expect(log.map(({ seq, scope, subject: s }) => ({ seq, scope, subject: s }))).toEqual([
        { seq: seqs[0], scope: 'session', subject: 'h1' },
        { seq: seqs[1], scope: 'session', subject: 'h2' },
        { seq: seqs[2], scope: 'session', subject: 'h4' },
        { seq: seqs[3], scope: 'session', subject: 'h6' },
        { seq: seqs[4], scope: 'user', subject: 'bob' },
        { seq: seqs[5], scope: 'all', subject: null },
      ]);
      // The database's clock, on this machine the test's own (a second either side for rounding).
      for (const entry of log) expect(entry.at).toBeGreaterThanOrEqual(before - 1_000);
      for (const entry of log) expect(entry.at).toBeLessThanOrEqual(after + 1_000);
      expect(await store.revocations.latestSeq()).toBe(seqs[5]);
    });

    test('nothing deleted, nothing logged for one session; a user or everyone is logged even when none had a session', async () => {
      expect(await store.sessions.delete(idHash(9))).toBeNull();
      expect(await store.sessions.deleteByHandle('missing')).toBeNull();
      expect(await store.sessions.rotate(idHash(9), idHash(10), {})).toBeNull();
      expect(await all()).toEqual([]);
      const user = await store.sessions.deleteByUser('nobody');
      const everyone = await peer.sessions.deleteAll();
      expect(user.count + everyone.count).toBe(0);
      expect((await all()).map((e) => [e.seq, e.scope, e.subject])).toEqual([[user.seq, 'user', 'nobody'], [everyone.seq, 'all', null]]);
    });

    test('deleteByUser sparing a session is still logged for the user', async () => {
      await store.sessions.create(sessionRecord({ idHash: idHash(1), handle: 'a1' }));
      await store.sessions.create(sessionRecord({ idHash: idHash(2), handle: 'a2' }));
      const { count, seq } = await store.sessions.deleteByUser('alice', idHash(2));
      expect(count).toBe(1);
      expect(await all()).toMatchObject([{ seq, scope: 'user', subject: 'alice' }]);
    });

    test('since returns what came after, oldest first, at most the limit', async () => {
      const seqs: number[] = [];
      for (let n = 0; n < 5; n += 1) seqs.push((await store.sessions.deleteByUser(`user-${n}`)).seq);
      expect((await all(seqs[1])).map((e) => e.seq)).toEqual(seqs.slice(2));
      const page = await peer.revocations.since(seqs[0]!, 2);
      expect(page.revocations.map((e) => e.subject)).toEqual(['user-1', 'user-2']);
      expect(page.complete).toBe(true);
      expect(await peer.revocations.since(seqs[4]!)).toEqual({ revocations: [], complete: true });
    });

    test('revocations racing on both connections each get their own seq, and the log holds each once in order', async () => {
      for (let n = 0; n < 20; n += 1) await store.sessions.create(sessionRecord({ idHash: idHash(n + 1), handle: `r${n}`, userName: `u${n % 4}` }));
      const answered = await race(subject, async (parts, i) => {
        if (i % 5 === 4) return (await parts.sessions.deleteByUser(`u${i % 4}`)).seq;
        return (await parts.sessions.delete(idHash(i + 1)))?.seq ?? null;
      });
      const seqs = answered.filter((s): s is number => s !== null).sort((x, y) => x - y);
      expect((await all()).map((e) => e.seq)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(seqs.length);
    });

    test('a reader polling while revocations race never skips one: seqs become visible in order', async () => {
      const heard: number[] = [];
      let last = 0;
      let done = false;
      const reader = (async () => {
        while (!done) {
          const { revocations } = await peer.revocations.since(last);
          for (const entry of revocations) heard.push(entry.seq);
          last = heard.at(-1) ?? last;
        }
      })();
      await race(subject, (parts, i) => parts.sessions.deleteByUser(`racer-${i}`), 60);
      done = true;
      await reader;
      for (const entry of (await peer.revocations.since(last)).revocations) heard.push(entry.seq);
      expect(heard).toEqual((await all()).map((e) => e.seq));
    });

    test('purge drops entries older than the cut but always keeps the newest; a reader from before the cut is told it is incomplete', async () => {
      const seqs: number[] = [];
      for (let n = 0; n < 4; n += 1) seqs.push((await store.sessions.deleteByUser(`user-${n}`)).seq);
      expect(await store.revocations.purge(Date.now() - 3_600_000)).toBe(0);
      expect(await peer.revocations.purge(Date.now() + 60_000)).toBe(3);
      expect((await all()).map((e) => e.seq)).toEqual([seqs[3]]);
      expect(await store.revocations.latestSeq()).toBe(seqs[3]);
      expect((await store.revocations.since(seqs[0]!)).complete).toBe(false);
      expect(await store.revocations.since(seqs[2]!)).toMatchObject({ complete: true, revocations: [{ seq: seqs[3] }] });
      expect((await store.revocations.since(seqs[3]!)).complete).toBe(true);
      // Seqs are never handed out again after a purge.
      const next = (await store.sessions.deleteAll()).seq;
      expect(next).toBeGreaterThan(seqs[3]!);
    });
  });
}
