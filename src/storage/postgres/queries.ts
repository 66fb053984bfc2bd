import type pg from 'pg';
import { StoreUnavailableError } from '../store-unavailable-error.js';

/**
 * A named statement: node-postgres prepares it once per connection under `name` and from then on
 * sends only the values (https://node-postgres.com/features/queries#prepared-statements), so a
 * statement is parsed and planned once per connection, not per call. Names are unique across the
 * adapters of one pool: a connection serves them all.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

export function statement(name: string, text: string): Statement {
  return { name: `gatehouse_${name}`, text };
}

/** A pool, or one of its connections inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

export function run<R extends pg.QueryResultRow = pg.QueryResultRow>(db: Queryable, sql: Statement, values: unknown[] = []): Promise<pg.QueryResult<R>> {
  return db.query<R>({ name: sql.name, text: sql.text, values }).catch(unavailable);
}

/**
 * SQLSTATE classes and codes that say the server cannot answer now, not that the statement is wrong:
 * connection exceptions (08), insufficient resources (53), operator intervention (57: a statement
 * cancelled by statement_timeout, a shutdown, a server still starting).
 */
const outage = /^(08|53|57)/;

/** Rethrows a broken, refused or timed-out connection, or an outage the server reports, as StoreUnavailableError. */
export function unavailable(error: unknown): never {
  if (error instanceof StoreUnavailableError) throw error;
  const code = (error as { code?: unknown } | null)?.code;
  if (!fromServer(error)) throw new StoreUnavailableError(typeof code === 'string' ? code : 'no connection', { cause: error });
  if (typeof code === 'string' && outage.test(code)) throw new StoreUnavailableError(code, { cause: error });
  throw error;
}

/** The rows a statement changed (or returned): pg reports null for statements that count nothing. */
export function changed(result: pg.QueryResult): number {
  return result.rowCount ?? 0;
}

/** An error the server sent (it carries a five-character SQLSTATE), as opposed to a broken or timed-out connection. */
function fromServer(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * Runs `work` in one transaction on one connection of the pool (READ COMMITTED, PostgreSQL's
 * default: each statement sees what committed before it began). On a server error the transaction
 * is rolled back and the connection reused; on anything else (a timeout, a connection lost) the
 * connection is destroyed, since a statement may still be running on it.
 */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect().catch(unavailable);
  // A checked-out client whose connection dies between two statements emits 'error' with no
  // listener (the pool listens only while it is idle), which would end the process; the next
  // statement then fails and is handled below. The revocation follower's transaction every 200 ms
  // made this likely during a PostgreSQL restart (test/integration/cluster-faults.test.ts).
  const ignore = (): void => undefined;
  client.on('error', ignore);
  try {
    return await transactionOn(client, work);
  } finally {
    client.off('error', ignore);
  }
}

async function transactionOn<T>(client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    if (!fromServer(error)) {
      client.release(error instanceof Error ? error : true);
      unavailable(error);
    }
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch (rollbackError) {
      client.release(rollbackError instanceof Error ? rollbackError : true);
    }
    unavailable(error);
  }
}

/**
 * Whether PostgreSQL's text type can hold `value`: it refuses the NUL character, so no stored key
 * contains one, and a lookup by such a key (a name or id a client sent) finds nothing rather than
 * failing the request with a store error.
 */
export function storable(value: string): boolean {
  return !value.includes('\u0000');
}
