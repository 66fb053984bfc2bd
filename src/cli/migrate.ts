import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { PostgresStoreConfig } from '../config/schema.js';
import { migratePostgres, postgresMigrations, postgresSchemaVersion } from '../storage/postgres/migrations.js';
import { withSchemaClient } from '../storage/postgres/open-postgres-store.js';
import { SchemaTooNewError } from '../storage/schema-too-new-error.js';
import { applyMigrations, migrations, pendingMigrations, schemaVersion } from '../storage/sqlite/migrations.js';
import { openDatabase } from '../storage/sqlite/open-database.js';
import { printLine } from './cli-io.js';
import type { CliContext } from './context.js';

/** What every engine's migrations have in common, for the report. */
interface Step {
  version: number;
  description: string;
}

const listed = (list: readonly Step[]): string[] => list.map((m) => `  ${m.version}  ${m.description}`);

/**
 * `gatehouse migrate [--check]` (SPEC §2, §8): applies the store's pending schema migrations, or
 * with `--check` only says whether any is pending (exit 1) and changes nothing. Needs neither the
 * master key nor the services: only the schema is touched. Several processes or nodes may run it at
 * once and each migration is applied once: on SQLite they serialise on the file's write lock
 * (storage/sqlite/migrations.ts), on PostgreSQL on an advisory lock (storage/postgres/migrations.ts).
 */
export function addMigrateCommand(program: Command, ctx: CliContext): void {
  program.command('migrate')
    .description("apply the store's pending schema migrations; --check: exit 1 if any is pending, change nothing")
    .option('--check', 'only report pending migrations: exit 1 if any, 0 if none; creates and changes nothing')
    .action(async (options: { check?: boolean }) => {
      const store = loadConfig(ctx.configFile()).config.store;
      const lines = 'postgres' in store
        ? await postgres(store, options.check === true, ctx)
        : options.check ? reportPending(sqliteCheck(store.sqlite), ctx) : reportApplied(sqliteApply(store.sqlite));
      printLine(ctx.io.stdout, lines.join('\n'));
    });
}

function reportApplied({ applied, version }: { applied: readonly Step[]; version: number }): string[] {
  if (applied.length === 0) return [`the store is up to date (schema version ${version})`];
  return [`applied ${applied.length} schema migration${applied.length === 1 ? '' : 's'}:`, ...listed(applied), `the store is at schema version ${version}`];
}

function reportPending({ pending, version }: { pending: readonly Step[]; version: number }, ctx: CliContext): string[] {
  if (pending.length === 0) return [`the store is up to date (schema version ${version})`];
  ctx.exitCode = 1;
  const where = version === 0 ? 'the store has no schema yet' : `the store is at schema version ${version}`;
  return [`${where}; ${pending.length} schema migration${pending.length === 1 ? ' is' : 's are'} pending:`, ...listed(pending)];
}

function sqliteApply(file: string): { applied: readonly Step[]; version: number } {
  const db = openDatabase(file);
  try {
    const applied = applyMigrations(db);
    return { applied, version: schemaVersion(db) };
  } finally {
    db.close();
  }
}

function sqliteCheck(file: string): { pending: readonly Step[]; version: number } {
  // A store not yet created has every migration pending, and --check must not create it: a plain
  // open would make the file (and its folder), so look first and open an existing one read-only.
  if (file === ':memory:' || file === '' || !existsSync(file)) return { pending: migrations, version: 0 };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return { pending: pendingMigrations(db), version: schemaVersion(db) };
  } finally {
    db.close();
  }
}

/** The same on PostgreSQL; --check only reads (a database Gatehouse never touched is at version 0). */
async function postgres(store: PostgresStoreConfig, check: boolean, ctx: CliContext): Promise<string[]> {
  return withSchemaClient(store, ctx.io.env, async (client) => {
    if (!check) {
      const applied = await migratePostgres(client);
      return reportApplied({ applied, version: await postgresSchemaVersion(client) });
    }
    const version = await postgresSchemaVersion(client);
    if (version > postgresMigrations.length) throw new SchemaTooNewError(version, postgresMigrations.length);
    return reportPending({ pending: postgresMigrations.filter((m) => m.version > version), version }, ctx);
  });
}
