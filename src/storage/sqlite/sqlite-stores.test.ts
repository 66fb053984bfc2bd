import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeAuditStoreContract } from '../contract/audit-store.contract.js';
import { describeBlockStoreContract } from '../contract/block-store.contract.js';
import type { ContractSubject } from '../contract/contract-subject.js';
import { describeCounterStoreContract, type CounterSubject } from '../contract/counter-store.contract.js';
import { describeMetaStoreContract } from '../contract/meta-store.contract.js';
import { describeMfaStoreContract } from '../contract/mfa-store.contract.js';
import { describeOidcStoreContract } from '../contract/oidc-store.contract.js';
import { describeSecretStoreContract } from '../contract/secret-store.contract.js';
import { describeSessionStoreContract, describeSessionWithUserContract } from '../contract/session-store.contract.js';
import { describeRevocationLogContract } from '../contract/revocation-log.contract.js';
import { describeNodeRegistryContract } from '../contract/node-registry.contract.js';
import { describeLeaseStoreContract } from '../contract/lease-store.contract.js';
import { describeConnectionSlotsContract } from '../contract/connection-slots.contract.js';
import { describeStoreTransferContract, describeTransferCoverage } from '../contract/store-transfer.contract.js';
import { describeSigningKeyStoreContract } from '../contract/signing-key-store.contract.js';
import { describeUserStoreContract } from '../contract/user-store.contract.js';
import type { Store } from '../store.js';
import { openSqliteStore } from './open-sqlite-store.js';

/** Two connections to one fresh temp file per test: `peer` is a second openSqliteStore on it. */
function sqlite<T>(pick: (store: Store) => T): () => Promise<ContractSubject<T> & { file: string }> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
    const file = join(dir, 'gatehouse.db');
    const first = openSqliteStore(file);
    const second = openSqliteStore(file);
    return {
      file,
      store: pick(first),
      peer: pick(second),
      async cleanup() {
        await first.close();
        await second.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

describeUserStoreContract('sqlite', sqlite((s) => s.users));
describeSessionStoreContract('sqlite', sqlite((s) => s.sessions));
describeSessionWithUserContract('sqlite', sqlite((s) => ({ sessions: s.sessions, users: s.users })));
describeSecretStoreContract('sqlite', sqlite((s) => s.secrets));
describeAuditStoreContract('sqlite', sqlite((s) => s.audit));
describeMetaStoreContract('sqlite', sqlite((s) => s.meta));
describeCounterStoreContract('sqlite', async (): Promise<CounterSubject> => {
  const subject = await sqlite((s) => s.counters)();
  const file = subject.file;
  return {
    ...subject,
    // What the file holds for the key: its rows' columns (three 8-byte integers beside the key and the BLOB).
    async footprint(key) {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare('SELECT coalesce(sum(length(key) + length(counts) + 24), 0) FROM counter_windows WHERE key = ?').pluck().get(key) as number;
      } finally {
        db.close();
      }
    },
  };
});
describeBlockStoreContract('sqlite', sqlite((s) => s.blocks));
describeMfaStoreContract('sqlite', sqlite((s) => s.mfa));
describeOidcStoreContract('sqlite', sqlite((s) => ({ oidc: s.oidc, sessions: s.sessions })));
describeSigningKeyStoreContract('sqlite', sqlite((s) => s.keys));
describeRevocationLogContract('sqlite', sqlite((s) => ({ sessions: s.sessions, revocations: s.revocations })));
describeNodeRegistryContract('sqlite', sqlite((s) => s.nodes));
describeLeaseStoreContract('sqlite', sqlite((s) => s.leases));
describeConnectionSlotsContract('sqlite', sqlite((s) => ({ connectionSlots: s.connectionSlots, nodes: s.nodes })));

/** Two separate files: the store copied from and the one copied into. */
describeStoreTransferContract('sqlite → sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
  const source = openSqliteStore(join(dir, 'source.db'));
  const target = openSqliteStore(join(dir, 'target.db'));
  const targetPeer = openSqliteStore(join(dir, 'target.db'));
  return {
    source,
    target,
    targetPeer,
    async cleanup() {
      await source.close();
      await target.close();
      await targetPeer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeTransferCoverage('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
  const file = join(dir, 'gatehouse.db');
  await openSqliteStore(file).close();
  const db = new Database(file, { readonly: true });
  try {
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    return Object.fromEntries(names.map((table) => [table, db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[]]));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
