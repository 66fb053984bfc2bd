import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { usePostgres } from '../../../test/helpers/postgres.js';
import { migrate as migrateSqlite, migrations as sqliteMigrations } from '../sqlite/migrations.js';
import { openDatabase } from '../sqlite/open-database.js';
import { migratePostgres, migrationLockKey, postgresMigrations, postgresSchemaVersion, type PostgresMigration } from './migrations.js';

const postgres = usePostgres();

async function withClients<T>(url: string, count: number, work: (clients: pg.Client[]) => Promise<T>): Promise<T> {
  const clients = Array.from({ length: count }, () => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((c) => c.connect()));
  try {
    return await work(clients);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/**
 * Migrations that leave a trace of every application: each logs its version, and each creates a
 * table (a second application would fail on it) after a pause that widens any window in which two
 * nodes could both see it pending.
 */
const traced: PostgresMigration[] = [1, 2, 3].map((version) => ({
  version,
  description: `traced ${version}`,
  sql: `
    CREATE TABLE IF NOT EXISTS applied (version integer NOT NULL, by_pid integer NOT NULL);
    SELECT pg_sleep(0.05);
    CREATE TABLE made_by_${version} (n integer);
    INSERT INTO applied VALUES (${version}, pg_backend_pid());
  `,
}));

describe('PostgreSQL migrations', () => {
  test('six nodes migrating an empty database at once: each migration applied exactly once, none failing', async () => {
    const url = await postgres.server.createDatabase();
    await withClients(url, 6, async (clients) => {
      const results = await Promise.allSettled(clients.map((client) => migratePostgres(client, traced)));
      expect(results.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
      const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.map((m) => m.version) : []));
      expect(applied.sort()).toEqual([1, 2, 3]);
      const [admin] = clients as [pg.Client];
      expect((await admin.query('SELECT version FROM applied ORDER BY version')).rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
      expect(await postgresSchemaVersion(admin)).toBe(3);
    });
  });

  test('six nodes opening an empty database with the real schema at once all succeed, and it ends at the last version', async () => {
    const url = await postgres.server.createDatabase();
    await withClients(url, 6, async (clients) => {
      const results = await Promise.allSettled(clients.map((client) => migratePostgres(client)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.map((m) => m.version) : []));
      expect(applied.sort((a, b) => a - b)).toEqual(postgresMigrations.map((m) => m.version));
      expect(await postgresSchemaVersion(clients[0]!)).toBe(postgresMigrations.length);
      // Up to date: nothing more to apply, for anyone.
      expect(await migratePostgres(clients[1]!)).toEqual([]);
    });
  });

  test('a database never migrated is at version 0 and is left untouched by reading it', async () => {
    const url = await postgres.server.createDatabase();
    await withClients(url, 1, async ([client]) => {
      expect(await postgresSchemaVersion(client!)).toBe(0);
      expect((await client!.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).rows).toEqual([{ n: 0 }]);
    });
  });

  test('later migrations apply on top of earlier ones, each once', async () => {
    const url = await postgres.server.createDatabase();
    await withClients(url, 1, async ([client]) => {
      expect((await migratePostgres(client!, traced.slice(0, 1))).map((m) => m.version)).toEqual([1]);
      expect((await migratePostgres(client!, traced)).map((m) => m.version)).toEqual([2, 3]);
      expect((await client!.query('SELECT version FROM applied ORDER BY version')).rows.map((r) => r.version)).toEqual([1, 2, 3]);
    });
  });

  test('a failing migration leaves the schema and the version as they were', async () => {
    const url = await postgres.server.createDatabase();
    const failing: PostgresMigration[] = [traced[0]!, { version: 2, description: 'broken', sql: 'CREATE TABLE half_made (n integer); SELECT no_such_function();' }];
    await withClients(url, 1, async ([client]) => {
      await expect(migratePostgres(client!, failing)).rejects.toThrow(/no_such_function/);
      expect(await postgresSchemaVersion(client!)).toBe(0);
      expect((await client!.query("SELECT to_regclass('made_by_1') IS NULL AS gone, to_regclass('half_made') IS NULL AS none")).rows).toEqual([{ gone: true, none: true }]);
    });
  });

  test('a database at a newer version is refused with the sentence the SQLite store uses, and nothing changes', async () => {
    const url = await postgres.server.createDatabase();
    await withClients(url, 1, async ([client]) => {
      await migratePostgres(client!);
      await client!.query('UPDATE gatehouse_schema SET version = 99');
      const refusal = await migratePostgres(client!).then(() => 'applied', (error: Error) => error.message);
      expect(refusal).toBe(`the store is at schema version 99, newer than this Gatehouse knows (${postgresMigrations.length}); upgrade Gatehouse`);
      expect(await postgresSchemaVersion(client!)).toBe(99);

      const sqlite = openDatabase(':memory:');
      try {
        sqlite.pragma('user_version = 99');
        const sqliteRefusal = (() => {
          try {
            migrateSqlite(sqlite);
            return 'applied';
          } catch (error) {
            return (error as Error).message;
          }
        })();
        expect(refusal.replace(`(${postgresMigrations.length})`, `(${sqliteMigrations.length})`)).toBe(sqliteRefusal);
      } finally {
        sqlite.close();
      }
    });
  });

  test('versions must count from 1 without gaps', async () => {
    const url = await postgres.server.createDatabase();
    await withClients(url, 1, async ([client]) => {
      await expect(migratePostgres(client!, [traced[1]!])).rejects.toThrow(/versions must count from 1 without gaps/);
    });
  });

  test('the lock key spells "gatehous", and fits a signed BIGINT', () => {
    expect(Buffer.from(BigInt(migrationLockKey).toString(16), 'hex').toString('ascii')).toBe('gatehous');
    expect(BigInt(migrationLockKey) < 2n ** 63n).toBe(true);
  });
});
