import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { beforeAll, expect, test } from 'vitest';
import { silentLogger } from '../../log/logger.js';
import type { Resealable } from '../../secrets/resealable.js';
import { masterKeyCheckKey } from '../../secrets/sealed-values.js';
import { usePostgres } from '../../../test/helpers/postgres.js';
import { describeAuditStoreContract } from '../contract/audit-store.contract.js';
import type { ContractFactory } from '../contract/contract-subject.js';
import { totpRecord } from '../contract/fixtures.js';
import { describeBlockStoreContract } from '../contract/block-store.contract.js';
import { describeCounterStoreContract, type CounterSubject } from '../contract/counter-store.contract.js';
import { describeMetaStoreContract } from '../contract/meta-store.contract.js';
import { describeMfaStoreContract } from '../contract/mfa-store.contract.js';
import { describeOidcStoreContract } from '../contract/oidc-store.contract.js';
import { describeResealableContract } from '../contract/resealable.contract.js';
import { describeSecretStoreContract } from '../contract/secret-store.contract.js';
import { describeSessionStoreContract, describeSessionWithUserContract } from '../contract/session-store.contract.js';
import { describeRevocationLogContract } from '../contract/revocation-log.contract.js';
import { describeNodeRegistryContract } from '../contract/node-registry.contract.js';
import { describeLeaseStoreContract } from '../contract/lease-store.contract.js';
import { describeConnectionSlotsContract } from '../contract/connection-slots.contract.js';
import { describeStoreTransferContract, describeTransferCoverage, type TransferStore } from '../contract/store-transfer.contract.js';
import { describeSigningKeyStoreContract } from '../contract/signing-key-store.contract.js';
import { describeUserStoreContract } from '../contract/user-store.contract.js';
import { openSqliteStore } from '../sqlite/open-sqlite-store.js';
import { openPostgresStore, type PostgresStore } from './open-postgres-store.js';

/**
 * Every contract suite with a PostgreSQL adapter, against a real PostgreSQL 15 of this file's own
 * (test/helpers/postgres.ts). One database for the file, emptied before each test (TRUNCATE is
 * quicker than a CREATE DATABASE per test and leaves the suites as isolated); `store` and `peer` are
 * two openPostgresStore on it, so two pools: what one writes the other must see, and the atomic verbs
 * must hold between them as between two nodes.
 */
const postgres = usePostgres();
let url: string;
/** A second database: the other side of a store copy. */
let otherUrl: string;

beforeAll(async () => {
  url = await postgres.server.createDatabase();
  otherUrl = await postgres.server.createDatabase();
  await (await open()).close();
  await (await open(otherUrl)).close();
});

function open(at = url): Promise<PostgresStore> {
  // A generous timeout: the machine is shared, and no test here is about timing.
  return openPostgresStore({ postgres: at, pool: 10, timeout: 10_000 }, { env: {}, logger: silentLogger() });
}

async function emptyDatabase(at = url): Promise<void> {
  const client = new pg.Client({ connectionString: at });
  await client.connect();
  try {
    const tables = (await client.query<{ name: string }>(
      "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'gatehouse_schema'",
    )).rows.map((row) => row.name);
    await client.query(`TRUNCATE ${tables.join(', ')} RESTART IDENTITY`);
  } finally {
    await client.end();
  }
}

function postgresSubject<T>(pick: (store: PostgresStore) => T): ContractFactory<T> {
  return async () => {
    await emptyDatabase();
    const first = await open();
    const second = await open();
    return {
      store: pick(first),
      peer: pick(second),
      async cleanup() {
        await first.close();
        await second.close();
      },
    };
  };
}

describeUserStoreContract('postgres', postgresSubject((s) => s.users));
describeSessionStoreContract('postgres', postgresSubject((s) => s.sessions));
describeSessionWithUserContract('postgres', postgresSubject((s) => ({ sessions: s.sessions, users: s.users })));
describeSecretStoreContract('postgres', postgresSubject((s) => s.secrets));
describeAuditStoreContract('postgres', postgresSubject((s) => s.audit));
describeMetaStoreContract('postgres', postgresSubject((s) => s.meta));
describeMfaStoreContract('postgres', postgresSubject((s) => s.mfa));
describeOidcStoreContract('postgres', postgresSubject((s) => ({ oidc: s.oidc, sessions: s.sessions })));
describeSigningKeyStoreContract('postgres', postgresSubject((s) => s.keys));
describeBlockStoreContract('postgres', postgresSubject((s) => s.blocks));
describeCounterStoreContract('postgres', async (): Promise<CounterSubject> => {
  const subject = await postgresSubject((s) => s.throttle)();
  return {
    ...subject,
    // What the table holds for the key: its columns (three 8-byte integers beside the key and the bytea).
    async footprint(key) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const row = await client.query<{ bytes: string }>('SELECT coalesce(sum(octet_length(key) + octet_length(counts) + 24), 0) AS bytes FROM counter_windows WHERE key = $1', [key]);
        return Number(row.rows[0]!.bytes);
      } finally {
        await client.end();
      }
    },
  };
}, { heavyTakes: 10_000 });
describeRevocationLogContract('postgres', postgresSubject((s) => ({ sessions: s.sessions, revocations: s.revocations })));
describeNodeRegistryContract('postgres', postgresSubject((s) => s.nodes));
describeLeaseStoreContract('postgres', postgresSubject((s) => s.leases));
describeConnectionSlotsContract('postgres', postgresSubject((s) => ({ connectionSlots: s.connectionSlots, nodes: s.nodes })));

/** One side of a store copy on each engine; SQLite on a fresh file, PostgreSQL on an emptied database. */
async function side(engine: 'sqlite' | 'postgres', at: string): Promise<{ store: TransferStore; peer: TransferStore; close(): Promise<void> }> {
  let dir: string | null = null;
  let opening: () => (TransferStore & { close(): Promise<void> }) | Promise<PostgresStore>;
  if (engine === 'postgres') {
    await emptyDatabase(at);
    opening = () => open(at);
  } else {
    const folder = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
    dir = folder;
    opening = () => openSqliteStore(join(folder, 'gatehouse.db'));
  }
  const store = await opening();
  const peer = await opening();
  return {
    store,
    peer,
    async close() {
      await store.close();
      await peer.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const [from, to] of [['postgres', 'postgres'], ['sqlite', 'postgres'], ['postgres', 'sqlite']] as const) {
  describeStoreTransferContract(`${from} → ${to}`, async () => {
    const source = await side(from, url);
    const target = await side(to, otherUrl);
    return {
      source: source.store,
      target: target.store,
      targetPeer: target.peer,
      async cleanup() {
        await source.close();
        await target.close();
      },
    };
  });
}

describeTransferCoverage('postgres', async () => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rows = (await client.query<{ table: string; column: string }>(
      'SELECT table_name AS table, column_name AS column FROM information_schema.columns WHERE table_schema = current_schema()',
    )).rows;
    const tables: Record<string, string[]> = {};
    for (const { table, column } of rows) (tables[table] ??= []).push(column);
    return tables;
  } finally {
    await client.end();
  }
});

/** The MFA and meta ports do not declare Resealable; their PostgreSQL adapters do (as SQLite's). */
const asResealable = (part: object): Resealable => part as Resealable;
const whole = postgresSubject((s) => s);

describeResealableContract('postgres secrets', whole, {
  resealable: (s) => s.secrets,
  seed: async (s, i, sealed) => {
    await s.secrets.put({ name: `token-${i}`, sealed, updatedAt: 1_000 + i });
    return { id: `token-${i}`, aad: `secret:token-${i}` };
  },
  read: async (s, id) => (await s.secrets.get(id))?.sealed ?? null,
  capacity: Infinity,
});

describeResealableContract('postgres TOTP', whole, {
  resealable: (s) => asResealable(s.mfa),
  seed: async (s, i, sealed) => {
    expect(await s.mfa.putPendingTotp(totpRecord({ userName: `user-${i}`, sealedSecret: sealed }))).toBe(true);
    return { id: `user-${i}`, aad: `totp:user-${i}` };
  },
  read: async (s, id) => (await s.mfa.getTotp(id))?.sealedSecret ?? null,
  capacity: Infinity,
});

describeResealableContract('postgres meta', whole, {
  resealable: (s) => asResealable(s.meta),
  seed: async (s, _i, sealed) => {
    await s.meta.set(masterKeyCheckKey, sealed);
    return { id: masterKeyCheckKey, aad: `meta:${masterKeyCheckKey}` };
  },
  read: (s, id) => s.meta.get(id),
  capacity: 1,
});

test('postgres secrets: re-sealing keeps the update time (the value did not change)', async () => {
  const { store, cleanup } = await whole();
  try {
    await store.secrets.put({ name: 'token', sealed: 'sealed-old', updatedAt: 1_234 });
    expect(await store.secrets.replaceSealed('token', 'sealed-old', 'sealed-new')).toBe(true);
    expect(await store.secrets.get('token')).toEqual({ name: 'token', sealed: 'sealed-new', updatedAt: 1_234 });
  } finally {
    await cleanup();
  }
});

test('postgres TOTP: re-sealing keeps the confirmation and the last used step', async () => {
  const { store, cleanup } = await whole();
  try {
    await store.mfa.putPendingTotp(totpRecord({ sealedSecret: 'sealed-old' }));
    await store.mfa.confirmTotp('alice', 2_000);
    expect(await store.mfa.useTotpStep('alice', 100)).toBe(true);
    expect(await asResealable(store.mfa).replaceSealed('alice', 'sealed-old', 'sealed-new')).toBe(true);
    expect(await store.mfa.getTotp('alice')).toMatchObject({ sealedSecret: 'sealed-new', confirmedAt: 2_000 });
    expect(await store.mfa.useTotpStep('alice', 100)).toBe(false);
  } finally {
    await cleanup();
  }
});

test('postgres meta: plain values are neither listed nor replaceable', async () => {
  const { store, cleanup } = await whole();
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
