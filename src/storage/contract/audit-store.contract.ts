import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { AuditStore } from '../../audit/audit-store.js';
import { race, racers, type ContractFactory, type ContractSubject } from './contract-subject.js';
import { auditEvent } from './fixtures.js';

/** The behaviour every AuditStore adapter must have (audit/audit-store.ts). */
export function describeAuditStoreContract(name: string, factory: ContractFactory<AuditStore>): void {
  describe(`${name}: AuditStore contract`, () => {
    let subject: ContractSubject<AuditStore>;
    let store: AuditStore;
    let peer: AuditStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('append then recent from either connection returns every field', async () => {
      const event = auditEvent({
        type: 'session_revoked',
        user: 'alice',
        ip: '2001:db8::1',
        requestId: 'req-42',
        detail: { by: 'cli', reason: 'password_set', count: 3, forced: true, note: null, quote: 'a "b" \\ c' },
      });
      await store.append(event);
      expect(await store.recent(10)).toEqual([event]);
      expect(await peer.recent(10)).toEqual([event]);
    });

    test('nullable fields and an empty detail round-trip', async () => {
      const event = auditEvent({ user: null, ip: null, requestId: null, detail: {} });
      await store.append(event);
      expect(await peer.recent(1)).toEqual([event]);
    });

    test('recent on a fresh store is empty', async () => {
      expect(await store.recent(10)).toEqual([]);
    });

    test('recent is newest first by time, whatever the order of appends', async () => {
      await store.append(auditEvent({ time: 200, requestId: 'b' }));
      await peer.append(auditEvent({ time: 300, requestId: 'c' }));
      await store.append(auditEvent({ time: 100, requestId: 'a' }));
      expect((await store.recent(10)).map((e) => e.requestId)).toEqual(['c', 'b', 'a']);
    });

    test('events in the same millisecond come back latest append first', async () => {
      for (const id of ['first', 'second', 'third']) await store.append(auditEvent({ time: 500, requestId: id }));
      expect((await peer.recent(10)).map((e) => e.requestId)).toEqual(['third', 'second', 'first']);
    });

    test('recent returns at most `limit` events, the newest ones', async () => {
      for (let t = 1; t <= 5; t += 1) await store.append(auditEvent({ time: t, requestId: `r${t}` }));
      expect((await store.recent(2)).map((e) => e.requestId)).toEqual(['r5', 'r4']);
      expect(await store.recent(0)).toEqual([]);
      expect(await store.recent(100)).toHaveLength(5);
    });

    test('recent refuses a negative or fractional limit', async () => {
      await expect(store.recent(-1)).rejects.toThrow(RangeError);
      await expect(store.recent(1.5)).rejects.toThrow(RangeError);
    });

    test('concurrent appends from both connections are all kept', async () => {
      await race(subject, (s, i) => s.append(auditEvent({ time: 1_000 + i, requestId: `r${i}` })));
      const events = await peer.recent(1_000);
      expect(events).toHaveLength(racers);
      expect(events.map((e) => e.time)).toEqual([...events.map((e) => e.time)].sort((a, b) => b - a));
    });
  });
}
