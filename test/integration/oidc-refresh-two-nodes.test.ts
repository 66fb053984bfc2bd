import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../helpers/gateway.js';
import { call, type Reply } from '../helpers/http.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf, userTokenYaml } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §9 "exactly one refresh at the provider, across processes and nodes too": the 50-request
 * burst of oidc-refresh.test.ts over two `serve` nodes sharing one PostgreSQL and one Redis, the
 * requests alternating between them. Only the lease in PostgreSQL (decision 0011) keeps the second
 * node from refreshing with the refresh token the first one's refresh consumed. The nodes run on
 * the real clock, so the access token is made due by writing its recorded expiry into the past.
 */

const postgres = usePostgres();
const redis = useRedis();
let dir: string;
let databaseUrl: string;
let provider: TestProvider;
let orders: TestUpstream;
const nodes: { serve: ServeProcess; base: string }[] = [];

beforeAll(async () => {
  provider = await startProvider({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')] }], accounts, ttl: { accessToken: 60, idToken: 3600 } });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-refresh-two-nodes-'));
  databaseUrl = await postgres.server.createDatabase();
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const configs: { file: string; port: number }[] = [];
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, [
      `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1] }`,
      `store: { postgres: "${databaseUrl}", timeout: 5s }`,
      `cache: { redis: "${redis.server.url}", prefix: "rn:" }`,
      'masterKey: file:./master.key',
      ...userTokenYaml(provider.issuer, orders.url),
      '',
    ].join('\n'));
    configs.push({ file, port });
  }
  expect(gatehouse(['secret', 'set', 'corp-oidc', '--config', configs[0]!.file], { input: CLIENT_SECRET })).toMatchObject({ code: 0 });
  for (const { file, port } of configs) nodes.push({ serve: await startServe(file, port), base: `http://127.0.0.1:${port}` });
}, 120_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.serve?.stop()));
  await orders?.close();
  await provider?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('refresh over two nodes on PostgreSQL (SPEC §9, issue 13 item 6)', () => {
  it('50 parallel requests of one session with an expired access token, alternating between the nodes: one refresh at the provider, all 200, one new token upstream', async () => {
    const [a, b] = [nodes[0]!.base, nodes[1]!.base];
    // Login begun on one node and finished on the other: the login state is in the shared store.
    const start = await call(a, '/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
    expect(start.status, start.text).toBe(303);
    const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-user' });
    const back: Reply = await call(b, gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
    expect(back.status, back.text).toBe(303);
    const session = back.cookie!;

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const updated = await client.query('UPDATE oidc_sessions SET access_expires_at = $1', [Date.now() - 1_000]);
      expect(updated.rowCount).toBe(1);
    } finally {
      await client.end();
    }

    const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
    const seenFrom = orders.seen.length;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => call(i % 2 === 0 ? a : b, `/orders/burst/${i}`, { session })));

    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);
    expect(new Set(orders.seen.slice(seenFrom).map((s) => String(s.headers.authorization))).size).toBe(1);
  }, 60_000);

  it('the tokens each node holds beside the session (decision 0012) go with it: after a logout on a, or `gatehouse session revoke --user` beside the nodes, the next user-token request on either node is 401 and the upstream sees nothing', async () => {
    const [a, b] = [nodes[0]!.base, nodes[1]!.base];
    for (const how of ['logout on a', 'CLI revoke'] as const) {
      const start = await call(a, '/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
      const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-user' });
      const back = await call(a, gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
      expect(back.status, back.text).toBe(303);
      const session = back.cookie!;
      // Twice on each node, so that each holds the session and its tokens in memory.
      for (const node of [a, b, a, b]) expect((await call(node, '/orders/held', { session })).status, how).toBe(200);

      const seen = orders.seen.length;
      if (how === 'logout on a') expect((await call(a, '/auth/logout', { method: 'POST', session })).status).toBe(200);
      else expect(gatehouse(['session', 'revoke', '--user', 'corp.alice', '--config', join(dir, 'a.yaml')])).toMatchObject({ code: 0 });
      for (const node of [b, a]) expect((await call(node, '/orders/after', { session })).status, how).toBe(401);
      expect(orders.seen.length, how).toBe(seen);
    }
  }, 60_000);
});
