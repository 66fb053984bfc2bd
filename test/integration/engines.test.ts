import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPostgresInstalled, usePostgres } from '../helpers/postgres.js';
import { assertRedisInstalled, useRedis } from '../helpers/redis.js';

/**
 * The engines of issue 11 as the tests will drive them: the helpers start real PostgreSQL and Redis
 * servers, and the client settings the adapters will use turn a hung or absent server into a quick
 * error instead of a hanging request (SPEC §8: no request hangs on a component that is down).
 * Timeouts here are short to keep the file quick; the bounds are generous because the machine is shared.
 */
const TIMEOUT = 400;
const SLACK = 1_000;

async function elapsed(work: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('the helpers without the binaries', () => {
  it('fail (never skip) with a sentence that says how to install them', () => {
    expect(() => assertPostgresInstalled(['/nonexistent/initdb'])).toThrow(/PostgreSQL 15 is not installed \(\/nonexistent\/initdb is missing\).*apt-get install -y postgresql-15/);
    expect(() => assertRedisInstalled('/nonexistent/redis-server')).toThrow(/Redis is not installed.*apt-get install -y redis-server/);
    expect(() => assertPostgresInstalled()).not.toThrow();
    expect(() => assertRedisInstalled()).not.toThrow();
  });
});

const postgres = usePostgres();
const redis = useRedis();

function poolFor(url: string, overrides: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: TIMEOUT,
    statement_timeout: TIMEOUT,
    // statement_timeout is the server's to enforce: a frozen server enforces nothing, so the client
    // gives up on its own a little later (the server's cancel, when it can send one, comes first).
    query_timeout: TIMEOUT + 200,
    ...overrides,
  });
  // A connection dropped while idle (a restart, pg_terminate_backend) is reported here; without a
  // listener node-postgres's error event would end the process.
  pool.on('error', () => {});
  return pool;
}

function redisClient(url: string): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: TIMEOUT,
    maxRetriesPerRequest: 0,
    connectTimeout: TIMEOUT,
    retryStrategy: (times) => Math.min(25 * 2 ** times, 500),
  });
  client.on('error', () => {});
  return client;
}

describe('PostgreSQL from the test helper', () => {
  const pools: pg.Pool[] = [];
  afterEach(async () => {
    postgres.server.thaw();
    await Promise.all(pools.splice(0).map((p) => p.end().catch(() => {})));
  });

  it('gives each caller a fresh database, reachable with a pooled query', async () => {
    const [a, b] = [await postgres.server.createDatabase(), await postgres.server.createDatabase()];
    expect(a).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/gh_[0-9a-f]+$/);
    expect(b).not.toBe(a);
    const pool = poolFor(a);
    pools.push(pool);
    await pool.query('CREATE TABLE t (n int)');
    await pool.query('INSERT INTO t VALUES ($1)', [7]);
    expect((await pool.query<{ n: number }>('SELECT n FROM t')).rows).toEqual([{ n: 7 }]);
    const other = poolFor(b);
    pools.push(other);
    await expect(other.query('SELECT n FROM t')).rejects.toMatchObject({ code: '42P01' });
  });

  it('ends a statement past statement_timeout on a live server, and the connection stays usable', async () => {
    const pool = poolFor(await postgres.server.createDatabase(), { max: 1 });
    pools.push(pool);
    const slow = await elapsed(() => pool.query('SELECT pg_sleep(5)'));
    expect(slow.error).toMatchObject({ code: '57014' }); // query_canceled, from the server
    expect(slow.ms).toBeLessThan(TIMEOUT + SLACK);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('fails a query on an open connection within query_timeout when the whole server is frozen (SIGSTOP)', async () => {
    const pool = poolFor(await postgres.server.createDatabase(), { max: 1 });
    pools.push(pool);
    await pool.query('SELECT 1'); // one open, idle connection
    postgres.server.freeze('server');
    const frozen = await elapsed(() => pool.query('SELECT 1'));
    expect(String(frozen.error)).toContain('Query read timeout');
    expect(frozen.ms).toBeGreaterThanOrEqual(TIMEOUT);
    expect(frozen.ms).toBeLessThan(TIMEOUT + 200 + SLACK);
    postgres.server.thaw();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('without query_timeout, statement_timeout alone leaves that query waiting for as long as the server is frozen', async () => {
    const pool = poolFor(await postgres.server.createDatabase(), { max: 1, query_timeout: undefined });
    pools.push(pool);
    await pool.query('SELECT 1');
    postgres.server.freeze('server');
    let settled = false;
    const query = pool.query('SELECT 1 AS one').finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, TIMEOUT * 3));
    expect(settled).toBe(false);
    postgres.server.thaw();
    expect((await query).rows).toEqual([{ one: 1 }]);
  });

  it('fails a new connection within connectionTimeoutMillis when the postmaster is frozen (SIGSTOP)', async () => {
    const pool = poolFor(await postgres.server.createDatabase());
    pools.push(pool);
    postgres.server.freeze('postmaster');
    const frozen = await elapsed(() => pool.query('SELECT 1'));
    expect(String(frozen.error)).toMatch(/timeout/i);
    expect(frozen.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(frozen.ms).toBeLessThan(TIMEOUT + SLACK);
    postgres.server.thaw();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('terminates every client connection; the pool drops them and connects afresh', async () => {
    const pool = poolFor(await postgres.server.createDatabase());
    pools.push(pool);
    await Promise.all([pool.query('SELECT pg_sleep(0.05)'), pool.query('SELECT pg_sleep(0.05)')]);
    expect(pool.idleCount).toBe(2);
    expect(await postgres.server.terminateConnections()).toBeGreaterThanOrEqual(2);
    await expect.poll(() => pool.idleCount).toBe(0);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('restarts on the same port with the data kept', async () => {
    const url = await postgres.server.createDatabase();
    const pool = poolFor(url);
    pools.push(pool);
    await pool.query('CREATE TABLE kept (n int)');
    await pool.query('INSERT INTO kept VALUES (1)');
    await postgres.server.restart();
    // The idle connection died with the server: the first query may fail on it, the next reconnects.
    await pool.query('SELECT 1').catch(() => {});
    expect((await pool.query('SELECT n FROM kept')).rows).toEqual([{ n: 1 }]);
  });
});

describe('Redis from the test helper, through ioredis without an offline queue', () => {
  const clients: Redis[] = [];
  afterEach(() => {
    redis.server.thaw();
    clients.splice(0).forEach((c) => c.disconnect());
  });

  async function ready(): Promise<Redis> {
    const client = redisClient(redis.server.url);
    clients.push(client);
    await expect.poll(() => client.status).toBe('ready');
    return client;
  }

  it('answers commands', async () => {
    const client = await ready();
    const [[, count], [, expiry]] = (await client.multi().incr('k').pexpire('k', 60_000).exec()) as [[null, number], [null, number]];
    expect(count).toBe(1);
    expect(expiry).toBe(1);
  });

  it('fails a command within commandTimeout while redis-server is frozen (SIGSTOP), and works once it runs again', async () => {
    const client = await ready();
    redis.server.freeze();
    const frozen = await elapsed(() => client.incr('k2'));
    expect(String(frozen.error)).toContain('Command timed out');
    expect(frozen.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(frozen.ms).toBeLessThan(TIMEOUT + SLACK);
    redis.server.thaw();
    await expect.poll(async () => client.ping().catch(() => 'no'), { timeout: 5_000 }).toBe('PONG');
  });

  it('fails at once while redis-server is down, and reconnects by itself after it restarts', async () => {
    const client = await ready();
    await redis.server.stop();
    await expect.poll(() => client.status).not.toBe('ready');
    const down = await elapsed(() => client.incr('k3'));
    // Refused without being queued (with a queue, it would wait for a reconnection attempt to fail).
    expect(String(down.error)).toContain('enableOfflineQueue options is false');
    expect(down.ms).toBeLessThan(TIMEOUT);
    await redis.server.start();
    await expect.poll(async () => client.incr('k3').catch(() => 0), { timeout: 5_000 }).toBe(1);
  });

  it('cuts every subscriber with CLIENT KILL TYPE pubsub; ioredis reconnects and subscribes again', async () => {
    const [subscriber, publisher] = [await ready(), await ready()];
    let cut = 0;
    subscriber.on('reconnecting', () => { cut += 1; });
    const heard: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe('gh:test');
    expect(await redis.server.killSubscribers()).toBe(1);
    await expect.poll(() => cut).toBeGreaterThanOrEqual(1);
    // Messages published while it was away are lost (ENVIRONMENT.md): publish until one is heard.
    await expect.poll(async () => {
      await publisher.publish('gh:test', 'after');
      return heard.includes('after');
    }, { timeout: 5_000 }).toBe(true);
  });
});
