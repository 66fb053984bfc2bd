import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { moved, scrape } from '../helpers/metrics.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, gatehouse, seedForServe, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §11 on PostgreSQL + Redis (a real `serve`): store calls are timed in the store histogram,
 * the rate-rule counters and the cache ping in the Redis one, and sessions active is read from
 * PostgreSQL.
 */

const postgres = usePostgres();
const redis = useRedis();
const password = 'a long enough password';
let dir: string;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;
let admin: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-metrics-pg-'));
  upstream = await startUpstream();
  const url = await postgres.server.createDatabase();
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const [port, adminPort] = [await freePort(), await freePort()];
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "http://127.0.0.1:${port}" }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    `store: { postgres: "${url}", timeout: 5s }`,
    `cache: { redis: "${redis.server.url}", prefix: "mx:" }`,
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    'limits: [{ name: per-session, match: /api/**, by: session, max: 1000, per: 1m, action: reject }]',
    '',
  ].join('\n'));
  seedForServe(configFile, [{ name: 'alice' }], password);
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('/metrics on PostgreSQL + Redis', () => {
  it('times PostgreSQL and Redis apart, and counts the active sessions in PostgreSQL', async () => {
    const before = (await scrape(admin)).samples;
    const session = await login(base, 'alice', password);
    for (let i = 0; i < 5; i += 1) expect((await call(base, '/api/x', { session })).status).toBe(200);
    expect((await call(base, '/readyz')).status).toBe(200);
    const after = (await scrape(admin)).samples;
    const delta = moved(before, after, ['gatehouse_redis_duration_seconds_count', 'gatehouse_store_duration_seconds_count', 'gatehouse_sessions_active']);
    expect(delta['gatehouse_redis_duration_seconds_count{operation="counters"}']).toBeGreaterThanOrEqual(5);
    expect(delta['gatehouse_redis_duration_seconds_count{operation="ping"}']).toBe(1);
    expect(delta['gatehouse_store_duration_seconds_count{store="sessions"}']).toBeGreaterThanOrEqual(1);
    expect(delta['gatehouse_store_duration_seconds_count{store="users"}']).toBeGreaterThanOrEqual(1);
    expect(delta['gatehouse_store_duration_seconds_count{store="counters"}']).toBeUndefined();
    expect(after.get('gatehouse_sessions_active')).toBe(1);
  });
});
