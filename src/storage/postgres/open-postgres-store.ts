import pg from 'pg';
import { postgresUrlKind, resolveConnectionUrl } from '../../config/connection-url.js';
import type { PostgresStoreConfig } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { Store } from '../store.js';
import { migratePostgres } from './migrations.js';
import { unavailable } from './queries.js';
import { createPostgresPool, queryTimeoutMarginMs } from './postgres-pool.js';
import { PostgresAuditStore } from './postgres-audit-store.js';
import { PostgresBlockStore } from './postgres-block-store.js';
import { PostgresCounterStore } from './postgres-counter-store.js';
import { PostgresMetaStore } from './postgres-meta-store.js';
import { PostgresMfaStore } from './postgres-mfa-store.js';
import { PostgresOidcStore } from './postgres-oidc-store.js';
import { PostgresSecretStore } from './postgres-secret-store.js';
import { PostgresNodeRegistry } from './postgres-node-registry.js';
import { PostgresLeaseStore } from './postgres-lease-store.js';
import { PostgresConnectionSlots } from './postgres-connection-slots.js';
import { PostgresRevocationLog } from './postgres-revocation-log.js';
import { PostgresSessionStore } from './postgres-session-store.js';
import { PostgresStoreTransfer } from './postgres-store-transfer.js';
import { PostgresSigningKeyStore } from './postgres-signing-key-store.js';
import { PostgresUserStore } from './postgres-user-store.js';

/**
 * The parts of a Store that live in PostgreSQL, the login throttle's counters included. The
 * rate-rule counters live in Redis (SPEC §8) and are added by whoever composes the full Store.
 */
export type PostgresStore = Omit<Store, 'counters' | 'channel'>;

export interface PostgresStoreOptions {
  /** Where `env:VARNAME` sources are read (only config/ reads process.env). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Shown in pg_stat_activity (default "gatehouse"). */
  applicationName?: string;
  /**
   * How long the migrations at opening may take, waiting for another node's included (default
   * 2 minutes). Longer than `store.timeout` on purpose: building an index on a large table is not a
   * request, and a node that gave up on it would only leave the work to the next.
   */
  migrationTimeoutMs?: number;
}

const defaultMigrationTimeoutMs = 120_000;

/** A client of its own for schema work (not connected yet): timeouts sized for migrations, not requests. */
function migrationClient(url: string, config: PostgresStoreConfig, options: Pick<PostgresStoreOptions, 'applicationName' | 'migrationTimeoutMs'>): pg.Client {
  const migrationTimeoutMs = options.migrationTimeoutMs ?? defaultMigrationTimeoutMs;
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: config.timeout,
    statement_timeout: migrationTimeoutMs,
    query_timeout: migrationTimeoutMs + queryTimeoutMarginMs,
    application_name: `${options.applicationName ?? 'gatehouse'} (migrations)`,
  });
  // A connection lost mid-migration also fails the query in flight, which is what reports it.
  client.on('error', () => {});
  return client;
}

/** Runs `work` on a connected schema client (`gatehouse migrate`), and closes it. No error holds the URL. */
export async function withSchemaClient<T>(config: PostgresStoreConfig, env: NodeJS.ProcessEnv, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = migrationClient(resolveConnectionUrl(config.postgres, postgresUrlKind, env), config, {});
  try {
    await client.connect().catch(unavailable);
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Opens the PostgreSQL store `config` names: brings the schema up to date on a connection of its own
 * (several nodes may start at once: each migration is applied by one of them, see migrations.ts),
 * then builds every adapter on one pool. Refuses a database whose schema is newer than this
 * Gatehouse. No error or log line holds the URL.
 */
export async function openPostgresStore(config: PostgresStoreConfig, options: PostgresStoreOptions): Promise<PostgresStore> {
  const url = resolveConnectionUrl(config.postgres, postgresUrlKind, options.env);
  const applicationName = options.applicationName ?? 'gatehouse';
  const migrator = migrationClient(url, config, options);
  try {
    await migrator.connect().catch(unavailable);
    const applied = await migratePostgres(migrator);
    if (applied.length > 0) options.logger.info({ versions: applied.map((m) => m.version) }, 'applied PostgreSQL schema migrations');
  } finally {
    await migrator.end().catch(() => {});
  }

  const pool = createPostgresPool({ url, size: config.pool, timeoutMs: config.timeout, logger: options.logger, applicationName });
  return {
    users: new PostgresUserStore(pool),
    sessions: new PostgresSessionStore(pool),
    secrets: new PostgresSecretStore(pool),
    audit: new PostgresAuditStore(pool),
    meta: new PostgresMetaStore(pool),
    mfa: new PostgresMfaStore(pool),
    oidc: new PostgresOidcStore(pool),
    keys: new PostgresSigningKeyStore(pool),
    blocks: new PostgresBlockStore(pool),
    throttle: new PostgresCounterStore(pool),
    revocations: new PostgresRevocationLog(pool),
    nodes: new PostgresNodeRegistry(pool),
    leases: new PostgresLeaseStore(pool),
    connectionSlots: new PostgresConnectionSlots(pool),
    transfer: new PostgresStoreTransfer(pool),
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}
