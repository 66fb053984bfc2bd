import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { usePostgres } from '../../../test/helpers/postgres.js';
import { silentLogger } from '../../log/logger.js';
import { StoreUnavailableError } from '../store-unavailable-error.js';
import { createPostgresPool } from './postgres-pool.js';
import { transaction } from './queries.js';

const postgres = usePostgres();
let url: string;
let pool: pg.Pool;
let admin: pg.Client;

beforeAll(async () => {
  url = await postgres.server.createDatabase();
  pool = createPostgresPool({ url, size: 2, timeoutMs: 5_000, logger: silentLogger(), applicationName: 'queries-test' });
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});
afterAll(async () => {
  await pool?.end();
  await admin?.end();
});

// A connection that dies between two statements of a transaction (a PostgreSQL restart) makes the
// checked-out client emit 'error' while no statement runs: with no listener that would end the
// process. It must instead fail the transaction as the store being unavailable.
it('a transaction whose connection dies between statements fails with StoreUnavailableError, and the process lives on', async () => {
  const outcome = transaction(pool, async (client) => {
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.query('SELECT 1');
  });
  await expect(outcome).rejects.toBeInstanceOf(StoreUnavailableError);
  expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
});
