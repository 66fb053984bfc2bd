import pg from 'pg';
import type { Logger } from '../../log/logger.js';
import { errorFields } from '../../log/error-fields.js';

export interface PostgresPoolOptions {
  /** A postgres:// URL, already resolved (config/connection-url.ts). Never logged. */
  url: string;
  /** Connections at most (`store.pool`). */
  size: number;
  /** `store.timeout`: connect and statement timeout, in milliseconds. */
  timeoutMs: number;
  logger: Logger;
  /** Shown in pg_stat_activity, so an operator can tell Gatehouse's connections apart. */
  applicationName?: string;
}

/** PostgreSQL's type oid for BIGINT (int8), from pg_type. */
const int8Oid = 20;

/**
 * How long the client waits for an answer beyond `statement_timeout`: the server enforces that
 * timeout and sends its cancellation (57014) first whenever it can; this margin only decides when
 * the client stops waiting for a server that cannot answer at all (frozen, partitioned), which
 * statement_timeout alone never ends (test/integration/engines.test.ts shows both).
 */
export const queryTimeoutMarginMs = 250;

/**
 * BIGINT as a JS number. Every BIGINT Gatehouse stores is a time in milliseconds, a count or a
 * counter, all far below 2^53, so the ports' numbers round-trip exactly; one that is not would be
 * silently rounded, so it is refused instead. Set on this pool's clients only: pg.types is global to
 * the process, and other code there may rely on its default (strings).
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError('a BIGINT from PostgreSQL is beyond 2^53 and cannot be read as a number');
  return value;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === int8Oid && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The pool every PostgreSQL adapter of one store shares. Timeouts (SPEC §8: no request hangs on a
 * component that is down): a connection that is not made within `timeoutMs` fails; a statement
 * running past it is cancelled by the server; an answer that never comes (a frozen server) fails
 * `queryTimeoutMarginMs` later on the client. A session left idle inside a transaction (its process
 * frozen while holding locks) is ended by the server, so it cannot block the other nodes for long.
 */
export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.size,
    connectionTimeoutMillis: options.timeoutMs,
    statement_timeout: options.timeoutMs,
    query_timeout: options.timeoutMs + queryTimeoutMarginMs,
    idle_in_transaction_session_timeout: Math.max(5 * options.timeoutMs, 5_000),
    // TCP keepalive finds a peer that vanished without closing (a cut link) on idle connections.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: options.applicationName ?? 'gatehouse',
    types,
  });
  // A connection that dies while idle in the pool (a server restart, pg_terminate_backend) is
  // reported here; unheard, node-postgres's 'error' event would end the process. The pool drops the
  // connection and makes a new one when next needed. The message names no URL (pg's never do).
  pool.on('error', (error: Error & { code?: string }) => {
    options.logger.warn({ err: errorFields(error) }, 'an idle PostgreSQL connection failed; the pool will connect afresh');
  });
  return pool;
}
