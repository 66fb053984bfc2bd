import { ClientOfflineError, createClient, TimeoutReadError } from '@redis/client';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPostgresInstalled, usePostgres } from '../helpers/postgres.js';
import { assertRedisInstalled, useRedis } from '../helpers/redis.js';
import { elapsed } from '../helpers/elapsed.js';

/**
 * The engines of issue 11 as the tests will drive them: the helpers start real PostgreSQL and Redis
 * servers, and the client settings the adapters will use turn a hung or absent server into a quick
 * error instead of a hanging request (SPEC §8: no request hangs on a component that is down).
 * Timeouts here are short to keep the file quick; the bounds are generous because the machine is shared.
 */
const TIMEOUT = 400;
const SLACK = 1_000;

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

// Its type is inferred: spelled out, node-redis's generics would say nothing useful.
function redisClient(url: string, commandOptions: { timeout: number; rejectInFlight?: boolean } = { timeout: TIMEOUT, rejectInFlight: true }) {
  const client = createClient({
    url,
    // Refused while (re)connecting instead of queued until a reconnection: no request waits on it.
    disableOfflineQueue: true,
    // rejectInFlight: the timeout also covers a command already sent (a hung server); without it
    // the timeout covers only commands still waiting to be written.
    commandOptions,
    socket: { connectTimeout: TIMEOUT, reconnectStrategy: (retries) => Math.min(25 * 2 ** retries, 500) },
  });
  // node-redis reports connection trouble as 'error' events: unheard, one would end the process.
  client.on('error', () => {});
  return client;
}
type RedisClient = ReturnType<typeof redisClient>;

describe('PostgreSQL from the test helper', () => {
  const pools: pg.Pool[] = [];
  afterEach(async () => {
    postgres.server.thaw();
    await postgres.server.start();
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

describe('Redis from the test helper, through node-redis without an offline queue', () => {
  const clients: RedisClient[] = [];
  afterEach(async () => {
    redis.server.thaw();
    await redis.server.start(); // a test that failed while it was stopped must not fail the next ones
    clients.splice(0).forEach((c) => { if (c.isOpen) c.destroy(); });
  });

  async function connected(options?: Parameters<typeof redisClient>[1]): Promise<RedisClient> {
    const client = redisClient(redis.server.url, options);
    clients.push(client);
    await client.connect();
    return client;
  }

  it('answers a pipelined INCR and PEXPIRE, and a script by its SHA', async () => {
    const client = await connected();
    expect(await client.multi().incr('k').pExpire('k', 60_000, 'NX').execAsPipeline()).toEqual([1, 1]);
    const sha = await client.scriptLoad("return redis.call('INCR', KEYS[1])");
    expect(await client.evalSha(sha, { keys: ['k'] })).toBe(2);
  });

  it('fails a command within its timeout while redis-server is frozen (SIGSTOP), and works once it runs again', async () => {
    const client = await connected();
    redis.server.freeze();
    const frozen = await elapsed(() => client.incr('k2'));
    expect(frozen.error).toBeInstanceOf(TimeoutReadError);
    expect(frozen.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(frozen.ms).toBeLessThan(TIMEOUT + SLACK);
    const pipeline = await elapsed(() => client.multi().incr('k2').pExpire('k2', 60_000, 'NX').execAsPipeline());
    expect(pipeline.error).toBeInstanceOf(TimeoutReadError);
    expect(pipeline.ms).toBeLessThan(TIMEOUT + SLACK);
    redis.server.thaw();
    await expect.poll(() => client.ping().catch(() => 'no'), { timeout: 5_000 }).toBe('PONG');
  });

  it('without rejectInFlight, a command already sent waits for as long as redis-server is frozen', async () => {
    const client = await connected({ timeout: TIMEOUT });
    redis.server.freeze();
    let settled = false;
    const command = client.incr('k4').finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, TIMEOUT * 3));
    expect(settled).toBe(false);
    redis.server.thaw();
    expect(await command).toBe(1);
  });

  it('fails at once while redis-server is down, and reconnects by itself after it restarts', async () => {
    const client = await connected();
    await redis.server.stop();
    await expect.poll(() => client.isReady).toBe(false);
    const down = await elapsed(() => client.incr('k3'));
    // Refused without being queued: with a queue it would wait for the reconnection.
    expect(down.error).toBeInstanceOf(ClientOfflineError);
    expect(down.ms).toBeLessThan(TIMEOUT);
    await redis.server.start();
    await expect.poll(() => client.incr('k3').catch(() => 0), { timeout: 5_000 }).toBe(1);
  });

  it('cuts every subscriber with CLIENT KILL TYPE pubsub; node-redis reconnects and subscribes again', async () => {
    const publisher = await connected();
    const subscriber = publisher.duplicate();
    subscriber.on('error', () => {});
    clients.push(subscriber);
    let cut = 0;
    subscriber.on('reconnecting', () => { cut += 1; });
    await subscriber.connect();
    const heard: string[] = [];
    await subscriber.subscribe('gh:test', (message) => heard.push(message));
    expect(await redis.server.killSubscribers()).toBe(1);
    await expect.poll(() => cut).toBeGreaterThanOrEqual(1);
    // Messages published while it was away are lost (ENVIRONMENT.md): publish until one is heard.
    await expect.poll(async () => {
      await publisher.publish('gh:test', 'after');
      return heard.includes('after');
    }, { timeout: 5_000 }).toBe(true);
  });
});
