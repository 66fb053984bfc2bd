import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { Resealable } from '../../secrets/resealable.js';
import { masterKeyCheckKey } from '../../secrets/sealed-values.js';
import type { ContractFactory } from '../contract/contract-subject.js';
import { totpRecord } from '../contract/fixtures.js';
import { describeResealableContract } from '../contract/resealable.contract.js';
import type { Store } from '../store.js';
import { openSqliteStore } from './open-sqlite-store.js';

/** Two connections to one fresh temp file per test, as sqlite-stores.test.ts. */
const sqlite: ContractFactory<Store> = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
  const file = join(dir, 'gatehouse.db');
  const first = openSqliteStore(file);
  const second = openSqliteStore(file);
  return {
    store: first,
    peer: second,
    async cleanup() {
      await first.close();
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** The MFA and meta ports do not declare Resealable; their SQLite adapters do. */
const asResealable = (part: object): Resealable => part as Resealable;

describeResealableContract('sqlite secrets', sqlite, {
  resealable: (s) => s.secrets,
  seed: async (s, i, sealed) => {
    await s.secrets.put({ name: `token-${i}`, sealed, updatedAt: 1_000 + i });
    return { id: `token-${i}`, aad: `secret:token-${i}` };
  },
  read: async (s, id) => (await s.secrets.get(id))?.sealed ?? null,
  capacity: Infinity,
});

describeResealableContract('sqlite TOTP', sqlite, {
  resealable: (s) => asResealable(s.mfa),
  // A pending enrolment (putPendingTotp replaces a pending secret): pending ones are re-sealed too.
  seed: async (s, i, sealed) => {
    expect(await s.mfa.putPendingTotp(totpRecord({ userName: `user-${i}`, sealedSecret: sealed }))).toBe(true);
    return { id: `user-${i}`, aad: `totp:user-${i}` };
  },
  read: async (s, id) => (await s.mfa.getTotp(id))?.sealedSecret ?? null,
  capacity: Infinity,
});

describeResealableContract('sqlite meta', sqlite, {
  resealable: (s) => asResealable(s.meta),
  seed: async (s, _i, sealed) => {
    await s.meta.set(masterKeyCheckKey, sealed);
    return { id: masterKeyCheckKey, aad: `meta:${masterKeyCheckKey}` };
  },
  read: (s, id) => s.meta.get(id),
  capacity: 1,
});

test('sqlite secrets: re-sealing keeps the update time (the value did not change)', async () => {
  const { store, cleanup } = await sqlite();
  try {
    await store.secrets.put({ name: 'token', sealed: 'sealed-old', updatedAt: 1_234 });
    expect(await store.secrets.replaceSealed('token', 'sealed-old', 'sealed-new')).toBe(true);
    expect(await store.secrets.get('token')).toEqual({ name: 'token', sealed: 'sealed-new', updatedAt: 1_234 });
  } finally {
    await cleanup();
  }
});

test('sqlite TOTP: re-sealing keeps the confirmation and the last used step', async () => {
  const { store, cleanup } = await sqlite();
  try {
    await store.mfa.putPendingTotp(totpRecord({ sealedSecret: 'sealed-old' }));
    await store.mfa.confirmTotp('alice', 2_000);
    expect(await store.mfa.useTotpStep('alice', 100)).toBe(true);
    expect(await asResealable(store.mfa).replaceSealed('alice', 'sealed-old', 'sealed-new')).toBe(true);
    expect(await store.mfa.getTotp('alice')).toMatchObject({ sealedSecret: 'sealed-new', confirmedAt: 2_000 });
    // The step is still spent: a re-seal never reopens a used code.
    expect(await store.mfa.useTotpStep('alice', 100)).toBe(false);
  } finally {
    await cleanup();
  }
});

test('sqlite meta: plain values are neither listed nor replaceable', async () => {
  const { store, cleanup } = await sqlite();
  try {
    await store.meta.set('some-plain-setting', 'v1.0011223344556677.looks.sealed.but-is-not');
    const meta = asResealable(store.meta);
    expect(await meta.listSealed()).toEqual([]);
    expect(await meta.replaceSealed('some-plain-setting', 'v1.0011223344556677.looks.sealed.but-is-not', 'x')).toBe(false);
    expect(await store.meta.get('some-plain-setting')).toBe('v1.0011223344556677.looks.sealed.but-is-not');
  } finally {
    await cleanup();
  }
});
