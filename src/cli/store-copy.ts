import { existsSync, realpathSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { postgresUrlKind, resolveConnectionUrl } from '../config/connection-url.js';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import type { StoreConfig } from '../config/schema.js';
import { silentLogger } from '../log/logger.js';
import { loadKeyring } from '../secrets/keyring.js';
import { masterKeyMismatch } from '../secrets/master-key-mismatch.js';
import { cryptoRandom } from '../security/random.js';
import { openPostgresStore } from '../storage/postgres/open-postgres-store.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { TargetNotEmptyError, type StoreDump, type TransferTableName } from '../storage/store-transfer.js';
import { printLine } from './cli-io.js';
import { runtimeError, usageError } from './cli-error.js';
import type { CliContext } from './context.js';

/**
 * How long one PostgreSQL statement of the copy may take: reading a large audit log in one
 * statement is not a request, so `store.timeout` (sized for requests) would fail it for nothing.
 */
const copyStatementTimeoutMs = 120_000;

/** What the summary counts, in the order it names them; meta (the master-key check value) goes unnamed. */
const counted: readonly { table: TransferTableName; one: string; many: string }[] = [
  { table: 'users', one: 'user', many: 'users' },
  { table: 'totp_enrolments', one: 'TOTP enrolment', many: 'TOTP enrolments' },
  { table: 'recovery_codes', one: 'recovery code', many: 'recovery codes' },
  { table: 'passkeys', one: 'passkey', many: 'passkeys' },
  { table: 'secrets', one: 'secret', many: 'secrets' },
  { table: 'signing_keys', one: 'signing key', many: 'signing keys' },
  { table: 'sessions', one: 'session', many: 'sessions' },
  { table: 'rule_blocks', one: 'block', many: 'blocks' },
  { table: 'audit_events', one: 'audit event', many: 'audit events' },
];

/**
 * `gatehouse store copy --to FILE` (SPEC §2): copies every durable row of this configuration's store
 * into the store FILE configures (any engine to any engine), creating its schema. Values stay sealed
 * as they are, so both must use the same master key: that is checked on the dump before the target
 * is even opened. The load is one transaction that refuses a target already holding data, so a
 * refusal or a failure writes nothing. Counters, the login throttle's windows and WebAuthn challenges
 * are not copied (storage/store-transfer.ts).
 */
export function addStoreCopyCommand(store: Command, ctx: CliContext): void {
  store.command('copy')
    .description("copy everything in this configuration's store into the empty store of another configuration (same master key)")
    .requiredOption('--to <file>', 'the configuration whose store receives the copy')
    .action(async (options: { to: string }) => {
      const source = loadConfig(ctx.configFile()).config;
      const { config: target, file: targetFile } = loadTarget(options.to);
      if (sameStore(source.store, target.store, ctx.io.env)) {
        throw usageError('--to configures the same store as this configuration; a store cannot be copied onto itself');
      }
      if ('sqlite' in source.store && source.store.sqlite !== ':memory:' && !existsSync(source.store.sqlite)) {
        throw runtimeError(`this configuration's store ${source.store.sqlite} does not exist; there is nothing to copy`);
      }
      const keyOptions = { create: false, env: ctx.io.env, random: cryptoRandom };
      const sourceKeys = loadKeyring(source.masterKey, keyOptions);
      const targetKeys = loadKeyring(target.masterKey, keyOptions);

      const dump = await withStore(source.store, ctx.io.env, (from) => from.transfer.dump());
      const mismatch = masterKeyMismatch(dump, sourceKeys, "this configuration's")
        ?? masterKeyMismatch(dump, targetKeys, `${targetFile}'s`);
      if (mismatch) throw runtimeError(`${mismatch}; nothing was written`);

      try {
        await withStore(target.store, ctx.io.env, (to) => to.transfer.load(dump));
      } catch (error) {
        if (!(error instanceof TargetNotEmptyError)) throw error;
        throw runtimeError(`the store of ${targetFile} is not empty (it holds ${error.tables.map(plural).join(', ')}); store copy only fills an empty store, so nothing was written`);
      }
      printLine(ctx.io.stdout, `copied ${summary(dump)} into the store of ${targetFile}`);
    });
}

/** The --to configuration; its problems are bad usage (exit 2), named as the other file's. */
function loadTarget(file: string): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(error.problems.map((problem) => ({ path: '', message: `--to: ${formatProblem(problem)}` })));
  }
}

/**
 * Opens only the durable part of a store (no Redis: counters are not copied), runs `work`, closes
 * it. Opening brings the schema up to date, which is how the target's is created.
 */
async function withStore<T>(config: StoreConfig, env: NodeJS.ProcessEnv, work: (store: Pick<Store, 'transfer'>) => Promise<T>): Promise<T> {
  const store = 'sqlite' in config
    ? openSqliteStore(config.sqlite)
    : await openPostgresStore(
      { ...config, timeout: Math.max(config.timeout, copyStatementTimeoutMs) },
      { env, logger: silentLogger(), applicationName: 'gatehouse (store copy)' },
    );
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * Whether two configurations name one store: the same SQLite file (whatever the links), or the
 * same PostgreSQL server and database. A copy onto itself would find its target non-empty anyway;
 * this says why in plain words, and before anything is opened.
 */
function sameStore(a: StoreConfig, b: StoreConfig, env: NodeJS.ProcessEnv): boolean {
  if ('sqlite' in a && 'sqlite' in b) {
    if (a.sqlite === ':memory:' || b.sqlite === ':memory:') return false;
    return canonicalFile(a.sqlite) === canonicalFile(b.sqlite);
  }
  if ('postgres' in a && 'postgres' in b) {
    return postgresIdentity(resolveConnectionUrl(a.postgres, postgresUrlKind, env)) === postgresIdentity(resolveConnectionUrl(b.postgres, postgresUrlKind, env));
  }
  return false;
}

/** An existing file by device and inode (a symbolic or hard link is the same file); a new one by its path. */
function canonicalFile(path: string): string {
  if (!existsSync(path)) return path;
  const { dev, ino } = statSync(realpathSync(path));
  return `${dev}:${ino}`;
}

/** Server and database of a postgres:// URL (libpq defaults: port 5432, database named after the user). */
function postgresIdentity(url: string): string {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username);
  const host = parsed.searchParams.get('host') ?? parsed.hostname.toLowerCase();
  return JSON.stringify([host, parsed.port || '5432', database]);
}

function plural(table: TransferTableName): string {
  return counted.find((c) => c.table === table)?.many ?? table;
}

function summary(dump: StoreDump): string {
  return counted.map(({ table, one, many }) => {
    const count = dump[table].length;
    return `${count} ${count === 1 ? one : many}`;
  }).join(', ');
}
