import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { createLogger, silentLogger } from '../../log/logger.js';
import { usePostgres } from '../../../test/helpers/postgres.js';
import { freePort } from '../../../test/helpers/processes.js';
import { sessionRecord, userRecord } from '../contract/fixtures.js';
import { postgresMigrations, postgresSchemaVersion } from './migrations.js';
import { openPostgresStore } from './open-postgres-store.js';
import { createPostgresPool } from './postgres-pool.js';

const postgres = usePostgres();
const password = 'Pa55-w0rd-in-the-url';

/** The server's URL with a password in it: trust authentication ignores it, the code must not show it. */
const withPassword = (url: string): string => url.replace('postgres://postgres@', `postgres://postgres:${password}@`);

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ destination, level: 'debug' }), lines };
}

describe('openPostgresStore', () => {
  test('migrates a new database, answers ping, and closes', async () => {
    const url = await postgres.server.createDatabase();
    const { logger, lines } = capturingLogger();
    const store = await openPostgresStore({ postgres: withPassword(url), pool: 2, timeout: 5_000 }, { env: {}, logger });
    try {
      await store.ping();
      expect(await store.users.list()).toEqual([]);
    } finally {
      await store.close();
    }
    await expect(store.ping()).rejects.toThrow();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    expect(await postgresSchemaVersion(client)).toBe(postgresMigrations.length);
    await client.end();
    expect(lines.join('')).toContain('applied PostgreSQL schema migrations');
    expect(lines.join('')).not.toContain(password);
  });

  test('reads the URL from env:VARNAME or file:PATH', async () => {
    const url = await postgres.server.createDatabase();
    const fromEnv = await openPostgresStore({ postgres: 'env:GATEHOUSE_TEST_DB', pool: 1, timeout: 5_000 }, { env: { GATEHOUSE_TEST_DB: url }, logger: silentLogger() });
    await fromEnv.users.create(userRecord());
    await fromEnv.close();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-url-'));
    try {
      writeFileSync(join(dir, 'url'), `${url}\n`);
      const fromFile = await openPostgresStore({ postgres: `file:${join(dir, 'url')}`, pool: 1, timeout: 5_000 }, { env: {}, logger: silentLogger() });
      expect(await fromFile.users.get('alice')).toEqual(userRecord());
      await fromFile.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses a database at a newer schema version with one sentence naming both', async () => {
    const url = await postgres.server.createDatabase();
    await (await openPostgresStore({ postgres: url, pool: 1, timeout: 5_000 }, { env: {}, logger: silentLogger() })).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('UPDATE gatehouse_schema SET version = 42');
    await client.end();
    await expect(openPostgresStore({ postgres: url, pool: 1, timeout: 5_000 }, { env: {}, logger: silentLogger() }))
      .rejects.toThrow(`the store is at schema version 42, newer than this Gatehouse knows (${postgresMigrations.length}); upgrade Gatehouse`);
  });

  test('times of today round-trip exactly as numbers', async () => {
    const url = await postgres.server.createDatabase();
    const store = await openPostgresStore({ postgres: url, pool: 2, timeout: 5_000 }, { env: {}, logger: silentLogger() });
    try {
      const now = Date.UTC(2031, 6, 1, 12, 34, 56, 789);
      const session = sessionRecord({ createdAt: now, lastSeenAt: now + 1, expiresAt: now + 12 * 3_600_000 });
      await store.sessions.create(session);
      expect(await store.sessions.get(session.idHash)).toEqual(session);
    } finally {
      await store.close();
    }
  });

  test('no error and no log line shows the password: a server that is down, a connection killed while idle', async () => {
    const { logger, lines } = capturingLogger();
    const closed = `postgres://postgres:${password}@127.0.0.1:${await freePort()}/gatehouse`;
    const refused = await openPostgresStore({ postgres: closed, pool: 1, timeout: 1_000 }, { env: {}, logger }).then(() => null, (error: Error) => error);
    expect(refused).toBeInstanceOf(Error);
    expect(`${refused?.message} ${refused?.stack}`).not.toContain(password);

    const url = await postgres.server.createDatabase();
    const store = await openPostgresStore({ postgres: withPassword(url), pool: 2, timeout: 5_000 }, { env: {}, logger });
    try {
      await store.ping();
      expect(await postgres.server.terminateConnections()).toBeGreaterThanOrEqual(1);
      await expect.poll(() => lines.some((line) => line.includes('an idle PostgreSQL connection failed'))).toBe(true);
      // The pool connects afresh.
      await store.ping();
    } finally {
      await store.close();
    }
    expect(lines.join('')).not.toContain(password);
  });
});

describe('createPostgresPool', () => {
  test('reads BIGINT as a number on its own connections only, and refuses one beyond 2^53', async () => {
    const url = await postgres.server.createDatabase();
    const pool = createPostgresPool({ url, size: 1, timeoutMs: 5_000, logger: silentLogger() });
    try {
      expect((await pool.query('SELECT 1893456000000::bigint AS t, count(*) AS n FROM pg_class WHERE false')).rows).toEqual([{ t: 1893456000000, n: 0 }]);
      await expect(pool.query('SELECT 9007199254740993::bigint AS t')).rejects.toThrow(RangeError);
      expect((await pool.query("SELECT current_setting('statement_timeout') AS s, current_setting('application_name') AS a")).rows).toEqual([{ s: '5s', a: 'gatehouse' }]);
    } finally {
      await pool.end();
    }
    // The process-wide default is untouched: other code on pg still reads strings.
    expect(pg.types.getTypeParser(20, 'text')('12')).toBe('12');
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    expect((await plain.query('SELECT 12::bigint AS n')).rows).toEqual([{ n: '12' }]);
    await plain.end();
  });
});
