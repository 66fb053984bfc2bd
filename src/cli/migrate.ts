import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { applyMigrations, migrations, pendingMigrations, schemaVersion, type Migration } from '../storage/sqlite/migrations.js';
import { openDatabase } from '../storage/sqlite/open-database.js';
import { printLine } from './cli-io.js';
import type { CliContext } from './context.js';

const listed = (list: readonly Migration[]): string[] => list.map((m) => `  ${m.version}  ${m.description}`);

/**
 * `gatehouse migrate [--check]` (SPEC §2, §8): applies the store's pending schema migrations, or
 * with `--check` only says whether any is pending (exit 1) and changes nothing. Needs neither the
 * master key nor the services: only the schema is touched. Several processes may run it at once:
 * migrations serialise on the file's write lock, so each is applied once (storage/sqlite/migrations.ts).
 */
export function addMigrateCommand(program: Command, ctx: CliContext): void {
  program.command('migrate')
    .description("apply the store's pending schema migrations; --check: exit 1 if any is pending, change nothing")
    .option('--check', 'only report pending migrations: exit 1 if any, 0 if none; creates and changes nothing')
    .action((options: { check?: boolean }) => {
      const file = loadConfig(ctx.configFile()).config.store.sqlite;
      const lines = options.check ? check(file, ctx) : apply(file);
      printLine(ctx.io.stdout, lines.join('\n'));
    });
}

function apply(file: string): string[] {
  const db = openDatabase(file);
  try {
    const applied = applyMigrations(db);
    const version = schemaVersion(db);
    if (applied.length === 0) return [`the store is up to date (schema version ${version})`];
    return [`applied ${applied.length} schema migration${applied.length === 1 ? '' : 's'}:`, ...listed(applied), `the store is at schema version ${version}`];
  } finally {
    db.close();
  }
}

function check(file: string, ctx: CliContext): string[] {
  // A store not yet created has every migration pending, and --check must not create it: a plain
  // open would make the file (and its folder), so look first and open an existing one read-only.
  let pending: readonly Migration[] = migrations;
  let version = 0;
  if (file !== ':memory:' && file !== '' && existsSync(file)) {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      pending = pendingMigrations(db);
      version = schemaVersion(db);
    } finally {
      db.close();
    }
  }
  if (pending.length === 0) return [`the store is up to date (schema version ${version})`];
  ctx.exitCode = 1;
  const where = version === 0 ? 'the store has no schema yet' : `the store is at schema version ${version}`;
  return [`${where}; ${pending.length} schema migration${pending.length === 1 ? ' is' : 's are'} pending:`, ...listed(pending)];
}
