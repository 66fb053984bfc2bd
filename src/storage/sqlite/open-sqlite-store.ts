import type { Database } from 'better-sqlite3';
import type { Store } from '../store.js';
import { migrate } from './migrations.js';
import { openDatabase } from './open-database.js';
import { SqliteAuditStore } from './sqlite-audit-store.js';
import { SqliteBlockStore } from './sqlite-block-store.js';
import { SqliteCounterStore } from './sqlite-counter-store.js';
import { SqliteMetaStore } from './sqlite-meta-store.js';
import { SqliteMfaStore } from './sqlite-mfa-store.js';
import { SqliteOidcStore } from './sqlite-oidc-store.js';
import { SqliteSecretStore } from './sqlite-secret-store.js';
import { SqliteSessionStore } from './sqlite-session-store.js';
import { SqliteStoreTransfer } from './sqlite-store-transfer.js';
import { SqliteSigningKeyStore } from './sqlite-signing-key-store.js';
import { SqliteUserStore } from './sqlite-user-store.js';
import { SqliteRevocationLog } from './sqlite-revocation-log.js';
import { SqliteNodeRegistry } from './sqlite-node-registry.js';
import { SqliteLeaseStore } from './sqlite-lease-store.js';
import { SqliteConnectionSlots } from './sqlite-connection-slots.js';
import { LocalChannelHub } from '../../cluster/local-node-channel.js';
import { newNodeId } from '../../cluster/node-messages.js';
import { cryptoRandom } from '../../security/random.js';

/**
 * Opens (creating if needed) the SQLite file at `path` and brings its schema up to date. `:memory:`
 * gives a private in-memory database. Several processes (workers) may open the same file at once:
 * each gets its own connection, and migrations serialise on the file's write lock.
 */
export function openSqliteStore(path: string): Store {
  const db = openDatabase(path);
  try {
    migrate(db);
    return storeOn(db);
  } catch (error) {
    db.close();
    throw error;
  }
}

function storeOn(db: Database): Store {
  const ping = db.prepare('SELECT 1');
  const counters = new SqliteCounterStore(db);
  const channel = new LocalChannelHub().channel(newNodeId(cryptoRandom));
  return {
    users: new SqliteUserStore(db),
    sessions: new SqliteSessionStore(db),
    secrets: new SqliteSecretStore(db),
    audit: new SqliteAuditStore(db),
    meta: new SqliteMetaStore(db),
    counters,
    // The same table: throttle keys ("login:…") never meet a rule's, and its rows outlive a restart.
    throttle: counters,
    blocks: new SqliteBlockStore(db),
    mfa: new SqliteMfaStore(db),
    oidc: new SqliteOidcStore(db),
    keys: new SqliteSigningKeyStore(db),
    revocations: new SqliteRevocationLog(db),
    nodes: new SqliteNodeRegistry(db),
    leases: new SqliteLeaseStore(db),
    connectionSlots: new SqliteConnectionSlots(db),
    channel,
    transfer: new SqliteStoreTransfer(db),
    async ping() {
      ping.get();
    },
    async close() {
      await channel.close();
      db.close();
    },
  };
}
