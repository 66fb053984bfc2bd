import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { racers } from './contract-subject.js';
import type { Store } from '../store.js';
import { contentTables, TargetNotEmptyError, transferTables, untransferredTables, type StoreDump, type TransferTableName } from '../store-transfer.js';
import { auditEvent, codeHash, idHash, passkeyRecord, sessionRecord, totpRecord, userRecord } from './fixtures.js';

/** The ports a transfer is seen through: everything durable (no counters). */
export type TransferStore = Omit<Store, 'counters' | 'channel' | 'ping' | 'close' | 'pingCache'>;

/**
 * A source and a target on two separate, empty backends (possibly of different engines: the dump is
 * engine-neutral); `targetPeer` is a second connection to the target's backend, as a second process
 * would have. `cleanup` closes all three and removes what the factory created.
 */
export interface TransferSubject {
  source: TransferStore;
  target: TransferStore;
  targetPeer: TransferStore;
  cleanup(): Promise<void>;
}

export type TransferFactory = () => Promise<TransferSubject>;

const now = 50_000;
const sealed = (what: string): string => `v1.0011223344556677.bm9uY2U.${Buffer.from(what).toString('base64url')}.dGFn`;

/** One of everything, written through the ports, with the state only later calls reveal (used steps, used codes, counters). */
async function populate(store: TransferStore): Promise<void> {
  await store.meta.set('master-key-check', sealed('check'));
  expect(await store.users.create(userRecord({ name: 'alice', roles: ['admin', 'user'], lastLoginAt: 4_000 }))).toBe(true);
  expect(await store.users.create(userRecord({ name: 'bob', locked: true, passwordResetRequired: true, mfaEnabled: true, createdAt: 2_000 }))).toBe(true);
  expect(await store.users.create(userRecord({ name: 'carol', roles: [] }))).toBe(true);

  expect(await store.mfa.putPendingTotp(totpRecord({ userName: 'bob', sealedSecret: sealed('totp-bob') }))).toBe(true);
  expect(await store.mfa.confirmTotp('bob', 3_000)).toBe(true);
  expect(await store.mfa.useTotpStep('bob', 100)).toBe(true);
  expect(await store.mfa.putPendingTotp(totpRecord({ userName: 'carol', sealedSecret: sealed('totp-carol') }))).toBe(true);
  await store.mfa.replaceRecoveryCodes('bob', [codeHash(1), codeHash(2), codeHash(3)]);
  expect(await store.mfa.consumeRecoveryCode('bob', codeHash(2), 3_500)).toBe(true);
  expect(await store.mfa.addPasskey(passkeyRecord({ id: 'cGFzc2tleS0x', userName: 'bob', transports: [] }), 10)).toBe(true);
  expect(await store.mfa.addPasskey(passkeyRecord({ id: 'cGFzc2tleS0y', userName: 'bob' }), 10)).toBe(true);
  expect(await store.mfa.recordPasskeyUse('cGFzc2tleS0y', 0, 7, 3_600)).toBe(true);

  await store.secrets.put({ name: 'api-token', sealed: sealed('token'), updatedAt: 1_500 });
  expect(await store.keys.addFirst({ kid: 'kid-1', sealedPrivateKey: sealed('key-1'), createdAt: 1_000 })).toBe(true);
  expect(await store.keys.rotate({ kid: 'kid-2', sealedPrivateKey: sealed('key-2'), createdAt: 2_000 }, 90_000)).toEqual(['kid-1']);

  // Three sessions made in one millisecond: only their insertion order tells them apart in lists.
  for (const n of [3, 1, 2]) await store.sessions.create(sessionRecord({ idHash: idHash(n), handle: `handle-${n}`, createdAt: 5_000, mfaCompleted: n === 1 }));
  await store.sessions.create(sessionRecord({ idHash: idHash(4), handle: 'handle-4', userName: 'bob', createdAt: 6_000, passwordResetRequired: true, mfaPending: true }));

  await store.blocks.add({ rule: 'fence', by: 'session', key: 'handle-3', until: now + 60_000 });
  await store.blocks.add({ rule: 'per-ip', by: 'ip', key: '192.0.2.1', until: now + 30_000 });

  // A provider identity and one session's sealed tokens (SPEC §9); login states are left behind.
  expect(await store.oidc.link({ issuer: 'https://idp.example', subject: 'sub-1', userName: 'carol', createdAt: 6_500 })).toBe(true);
  await store.oidc.putSession({ handle: 'handle-2', provider: 'corp', issuer: 'https://idp.example', subject: 'sub-1', sid: null, amr: ['pwd', 'otp'], sealedTokens: sealed('tokens'), accessExpiresAt: 9_000, refreshExpiresAt: 12_000, createdAt: 5_000 });
  await store.oidc.putLoginState({ stateHash: 'c'.repeat(64), browserHash: 'd'.repeat(64), provider: 'corp', sealed: sealed('login'), returnTo: '/', createdAt: 5_000, expiresAt: now + 600_000 });

  // Events of one millisecond: the log's order is the order they were appended in.
  for (const type of ['login_failed', 'login_succeeded', 'logout'] as const) {
    await store.audit.append(auditEvent({ type, time: 7_000, detail: { step: type, n: 1, ok: true, none: null } }));
  }
}

/** What a transfer must carry over (storage/store-transfer.ts), on every engine and in every direction. */
export function describeStoreTransferContract(name: string, factory: TransferFactory): void {
  describe(`${name}: StoreTransfer contract`, () => {
    let subject: TransferSubject;
    let source: TransferStore;
    let target: TransferStore;

    beforeEach(async () => {
      subject = await factory();
      ({ source, target } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('an empty store dumps every table, empty', async () => {
      const dump = await target.transfer.dump();
      expect(Object.keys(dump).sort()).toEqual(transferTables.map((t) => t.name).sort());
      for (const rows of Object.values(dump)) expect(rows).toEqual([]);
    });

    test('a load copies every row verbatim: the target dumps what the source did', async () => {
      await populate(source);
      const dump = await source.transfer.dump();
      expect(dump.users).toHaveLength(3);
      expect(dump.audit_events).toHaveLength(3);
      await target.transfer.load(dump);
      expect(await target.transfer.dump()).toEqual(dump);
    });

    test('through the ports, the target answers as the source: records, orders, and state of single-use things', async () => {
      await populate(source);
      await target.transfer.load(await source.transfer.dump());

      expect(await target.users.list()).toEqual(await source.users.list());
      expect(await target.sessions.list()).toEqual(await source.sessions.list());
      expect((await target.sessions.list()).map((s) => s.handle)).toEqual(['handle-4', 'handle-2', 'handle-1', 'handle-3']);
      expect(await target.sessions.getWithUser(idHash(4))).toEqual(await source.sessions.getWithUser(idHash(4)));
      expect(await target.secrets.list()).toEqual(await source.secrets.list());
      expect(await target.keys.list()).toEqual(await source.keys.list());
      expect(await target.blocks.list(now)).toEqual(await source.blocks.list(now));
      expect(await target.blocks.blockedUntil('session', 'handle-3', now)).toBe(now + 60_000);
      expect(await target.audit.recent(10)).toEqual(await source.audit.recent(10));
      expect((await target.audit.recent(10)).map((e) => e.type)).toEqual(['logout', 'login_succeeded', 'login_failed']);
      expect(await target.meta.get('master-key-check')).toBe(sealed('check'));
      expect(await target.oidc.findIdentity('https://idp.example', 'sub-1')).toEqual(await source.oidc.findIdentity('https://idp.example', 'sub-1'));
      expect(await target.oidc.getSession('handle-2')).toEqual(await source.oidc.getSession('handle-2'));
      expect(await target.oidc.getSession('handle-2')).toMatchObject({ amr: ['pwd', 'otp'], sid: null });
      expect(await target.oidc.takeLoginState('c'.repeat(64), 'd'.repeat(64), now)).toBeNull();

      expect(await target.mfa.getTotp('bob')).toEqual(await source.mfa.getTotp('bob'));
      expect(await target.mfa.getTotp('carol')).toEqual(await source.mfa.getTotp('carol'));
      expect(await target.mfa.listPasskeys('bob')).toEqual(await source.mfa.listPasskeys('bob'));
      expect(await target.mfa.countRecoveryCodes('bob')).toBe(2);
      // A code step and a recovery code used before the copy stay used after it (RFC 6238 §5.2).
      expect(await target.mfa.useTotpStep('bob', 100)).toBe(false);
      expect(await target.mfa.useTotpStep('bob', 101)).toBe(true);
      expect(await target.mfa.consumeRecoveryCode('bob', codeHash(2), now)).toBe(false);
      expect(await target.mfa.consumeRecoveryCode('bob', codeHash(1), now)).toBe(true);
      // The passkey's signature counter came along: the next assertion must be above 7 (WebAuthn §6.1.1).
      expect(await target.mfa.recordPasskeyUse('cGFzc2tleS0y', 0, 8, now)).toBe(false);
      expect(await target.mfa.recordPasskeyUse('cGFzc2tleS0y', 7, 8, now)).toBe(true);
      // Exactly one active signing key still, and the one-active-key rule still holds on the target.
      expect(await target.keys.addFirst({ kid: 'kid-3', sealedPrivateKey: sealed('key-3'), createdAt: 9_000 })).toBe(false);
      // New rows after the copy sort after the copied ones, as on the source.
      await target.audit.append(auditEvent({ type: 'logout', time: 7_000, detail: { after: true } }));
      expect((await target.audit.recent(1))[0]?.detail).toEqual({ after: true });
    });

    test('refuses a target holding a row in any content table, writing nothing', async () => {
      await populate(source);
      const dump = await source.transfer.dump();
      await subject.cleanup();
      for (const table of contentTables) {
        subject = await factory();
        ({ source, target } = subject);
        const one = emptyDump();
        one[table.name] = dump[table.name].slice(0, 1);
        await target.transfer.load(one);
        const before = await target.transfer.dump();
        const refusal = await target.transfer.load(dump).then(() => null, (error: unknown) => error);
        expect(refusal, table.name).toBeInstanceOf(TargetNotEmptyError);
        expect((refusal as TargetNotEmptyError).tables).toEqual([table.name]);
        expect(await target.transfer.dump(), table.name).toEqual(before);
        if (table !== contentTables.at(-1)) await subject.cleanup();
      }
    });

    test('a target holding only meta values is empty: they are replaced by the source\'s', async () => {
      await target.meta.set('master-key-check', sealed('the target opened once'));
      await target.meta.set('other', 'kept');
      await populate(source);
      await target.transfer.load(await source.transfer.dump());
      expect(await target.meta.get('master-key-check')).toBe(sealed('check'));
      expect(await target.meta.get('other')).toBe('kept');
    });

    test('concurrent loads into one empty target, across both connections: exactly one lands, whole; the others are refused', async () => {
      await populate(source);
      const full = await source.transfer.dump();
      // Dumps that would not collide on any key: without the emptiness check and the inserts being
      // one step, several would land side by side.
      const dumps = Array.from({ length: racers }, (_, i) => {
        const dump = emptyDump();
        dump.users = [{ ...full.users[0]!, name: `racer-${i}` }];
        dump.audit_events = full.audit_events.map((row) => ({ ...row, request_id: `racer-${i}` }));
        return dump;
      });
      const outcomes = await Promise.all(dumps.map((dump, i) => (i % 2 === 0 ? target : subject.targetPeer).transfer.load(dump).then(() => 'loaded', (error: unknown) => error)));
      const winners = outcomes.flatMap((outcome, i) => (outcome === 'loaded' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const outcome of outcomes.filter((o) => o !== 'loaded')) expect(outcome).toBeInstanceOf(TargetNotEmptyError);
      expect(await subject.targetPeer.transfer.dump()).toEqual(dumps[winners[0]!]);
    });

    test('a load failing part-way leaves the target as it was: all rows or none', async () => {
      await populate(source);
      const dump = await source.transfer.dump();
      // Sessions are written after users, MFA, secrets and keys: a duplicate id fails the insert there.
      const broken = { ...dump, sessions: [...dump.sessions, dump.sessions[0]!] };
      await target.meta.set('master-key-check', sealed('before'));
      const before = await target.transfer.dump();
      await expect(target.transfer.load(broken)).rejects.toThrow();
      expect(await target.transfer.dump()).toEqual(before);
      // And the failed attempt left nothing that blocks a good one.
      await target.transfer.load(dump);
      expect(await target.users.list()).toEqual(await source.users.list());
    });
  });
}

/**
 * The engine's schema, fully migrated, against the transfer's description: every table is copied or
 * deliberately left behind, and a copied table's columns are exactly those copied plus those the
 * engine numbers itself. `schema` lists each table's columns.
 */
export function describeTransferCoverage(name: string, schema: () => Promise<Record<string, string[]>>): void {
  test(`${name}: the store transfer covers every table and column of the schema`, async () => {
    const tables = await schema();
    const described = new Set([...transferTables.map((t) => t.name), ...untransferredTables]);
    expect(Object.keys(tables).filter((table) => !described.has(table)), 'tables neither copied nor listed as left behind').toEqual([]);
    for (const table of transferTables) {
      const columns = tables[table.name];
      expect(columns, table.name).toBeDefined();
      const own = columns!.filter((column) => !(table.generated ?? []).includes(column));
      expect([...own].sort(), table.name).toEqual(table.columns.map((c) => c.name).sort());
    }
  });
}

function emptyDump(): Record<TransferTableName, StoreDump[TransferTableName]> {
  return Object.fromEntries(transferTables.map((t) => [t.name, []])) as unknown as Record<TransferTableName, StoreDump[TransferTableName]>;
}
