import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §8 "Speed": on PostgreSQL + Redis, the rate rules that match a request make at most one
 * round trip to Redis together, and their blocks none to PostgreSQL. Counted, not timed: Redis's own per-command call counts
 * (INFO commandstats) around a run of proxied requests through a real `serve`. Commands a script
 * runs (GET, SET) are counted by Redis as calls too, so the round trips are the script calls
 * (EVALSHA, EVAL) plus every other command a client sent; GET and SET are sent only by the script here.
 */

const postgres = usePostgres();
const redis = useRedis();
const password = 'a long enough password';
const requests = 400;
let dir: string;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;
let stats: ReturnType<typeof createClient>;
let databaseUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-round-trips-'));
  upstream = await startUpstream();
  const url = await postgres.server.createDatabase();
  databaseUrl = url;
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const port = await freePort();
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "http://127.0.0.1:${port}" }`,
    `store: { postgres: "${url}", timeout: 5s }`,
    `cache: { redis: "${redis.server.url}", prefix: "rt:" }`,
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    // bench/lib/rules.mjs's three (one take per session, one per user, a status rule blocking by
    // address), and a status rule that rejects, so its hold is checked on each request too.
    'limits:',
    '  - { name: per-session, match: /api/**, by: session, max: 1000000, per: 1m, action: reject }',
    '  - { name: per-user, match: /api/**, by: user, max: 1000000, per: 1m, action: block, for: 1m }',
    '  - { name: ip-5xx, match: { path: /api/**, status: 5xx }, by: ip, max: 1000000, per: 1m, action: block, for: 1m }',
    '  - { name: ip-4xx, match: { path: /api/**, status: 4xx }, by: ip, max: 1000000, per: 1m, action: reject }',
    '',
  ].join('\n'));
  expect(gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' })).toMatchObject({ code: 0 });
  expect(gatehouse(['user', 'add', 'alice', '--password-stdin', '--config', configFile], { input: `${password}\n` })).toMatchObject({ code: 0 });
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
  stats = createClient({ url: redis.server.url });
  stats.on('error', () => {});
  await stats.connect();
}, 120_000);

afterAll(async () => {
  stats?.destroy();
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * The database's committed and rolled-back transactions so far, as PostgreSQL reports them: a
 * backend reports its counts at most once a second, so the count is read after a pause of 1.5 s.
 * The read itself is not counted.
 */
async function transactions(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return Number((await client.query('SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n);
  } finally {
    await client.end();
  }
}

/** Calls per command so far, from INFO commandstats. */
async function commandCalls(): Promise<Map<string, number>> {
  const info = await stats.sendCommand<string>(['INFO', 'commandstats']);
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('the rate rules of a proxied request on PostgreSQL + Redis', () => {
  it('make one round trip to Redis together (one script call), and send no other command', async () => {
    const cookie = await login(base, 'alice', password);
    for (let i = 0; i < 5; i += 1) expect((await call(base, '/api/warm', { session: cookie })).status).toBe(200);
    const before = await commandCalls();
    for (let i = 0; i < requests; i += 1) expect((await call(base, `/api/x${i}`, { session: cookie })).status).toBe(200);
    const after = await commandCalls();
    const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    // The node's own `alive` every 200 ms (cluster/channel-probe.ts) is an EVAL too, not a request's:
    // each runs one ZADD, which nothing else sends, so they are counted by it and taken off.
    const alive = delta('zadd');
    const scripts = delta('evalsha') + delta('eval') - alive;
    // Other commands: whatever a client sent besides the scripts, less this test's own INFO and
    // what the alive script runs (TIME, ZREMRANGEBYSCORE, ZADD, PEXPIRE, PUBLISH: one each).
    const aliveRuns = ['time', 'zremrangebyscore', 'zadd', 'pexpire', 'publish'];
    for (const name of aliveRuns) expect(delta(name), `${name}: one per alive`).toBe(alive);
    const others = [...after.keys()].filter((name) => ![...aliveRuns, 'evalsha', 'eval', 'get', 'set', 'info'].includes(name)).map((name) => `${name}: ${delta(name)}`).filter((line) => !line.endsWith(': 0'));
    expect(scripts / requests, `script calls per request (${scripts} for ${requests})`).toBe(1);
    expect(others, 'commands other than the counter script').toEqual([]);
  }, 60_000);

  it('make no PostgreSQL round trip for the blocks (held in memory): about the session\'s read alone', async () => {
    const cookie = await login(base, 'alice', password);
    for (let i = 0; i < 5; i += 1) expect((await call(base, '/api/warm', { session: cookie })).status).toBe(200);
    // What the node does with no request (the revocation log read every 250 ms, the blocks every
    // second) is measured first, over an idle stretch, and taken off.
    const idleFrom = await transactions();
    const idleStart = performance.now();
    const before = await transactions();
    const idleRate = (before - idleFrom - 1) / (performance.now() - idleStart);
    const started = performance.now();
    for (let i = 0; i < requests; i += 1) expect((await call(base, `/api/x${i}`, { session: cookie })).status).toBe(200);
    const after = await transactions();
    const background = idleRate * (performance.now() - started);
    const perRequest = (after - before - 1 - background) / requests;
    // The session's read is one per request (until the session memory, another part of issue 12);
    // the blocks were two more (the user's and the address's: 3.9 in all, measured so). The bound
    // leaves room for what the count cannot tell apart (session touches, autovacuum), not for a block read.
    expect(perRequest, `PostgreSQL transactions per request (${after - before - 1} for ${requests}, ${background.toFixed(0)} of them background)`).toBeLessThan(1.8);
  }, 90_000);
});
