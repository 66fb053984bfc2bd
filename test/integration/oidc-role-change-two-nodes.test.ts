import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type ProviderAccount, type TestProvider } from '../helpers/oidc-provider.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * oidc-role-change-workers.test.ts over two `serve` nodes sharing one PostgreSQL and one Redis:
 * each node remembers the session (user and roles) it served; a refresh on node A whose claims no
 * longer give `admin` makes the admin-only route answer 403 on node B at its very next request,
 * because the role change is announced and confirmed as a revocation is (SPEC §8). The nodes run on
 * the real clock, so the access token is made due by writing its recorded expiry into the past,
 * which only a node that does not hold the session's tokens in memory (decision 0012) reads.
 */

const postgres = usePostgres();
const redis = useRedis();
let dir: string;
let databaseUrl: string;
let provider: TestProvider;
let orders: TestUpstream;
const nodes: { serve: ServeProcess; base: string }[] = [];
/** The provider's own copy of the accounts: the test takes a group away from one. */
const own: ProviderAccount[] = accounts.map((a) => ({ ...a, groups: [...(a.groups ?? [])] }));
const ada = own.find((a) => a.sub === 'sub-admin')!;

beforeAll(async () => {
  provider = await startProvider({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')] }], accounts: own, ttl: { accessToken: 60, idToken: 3600 } });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-role-change-two-nodes-'));
  databaseUrl = await postgres.server.createDatabase();
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const configs: { file: string; port: number }[] = [];
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, [
      `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1] }`,
      `store: { postgres: "${databaseUrl}", timeout: 5s }`,
      `cache: { redis: "${redis.server.url}", prefix: "rc:" }`,
      'masterKey: file:./master.key',
      `upstreams: [{ name: orders, url: "${orders.url}", credential: { type: user-token, provider: corp } }]`,
      'routes: [{ path: /orders/**, methods: [GET], upstream: orders, stripPrefix: /orders }, { path: /admin/**, methods: [GET], upstream: orders, roles: [admin] }]',
      `oidc: { providers: [{ name: corp, issuer: "${provider.issuer}", clientId: ${CLIENT_ID}, clientSecret: corp-oidc, scopes: [openid, profile, email, groups], roles: [{ role: admin, claim: groups, includes: gatehouse-admins }, { role: user, claim: email_verified, equals: true }], allowInsecureHttp: true }] }`,
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

describe('a role change reaches every node at once (SPEC §8, §9; issue 13 items 3 and 6)', () => {
  it('a refresh on node A that removes admin: the admin-only route answers 403 on node B, which remembered the session as admin, at its very next request', async () => {
    const [a, b] = [nodes[0]!.base, nodes[1]!.base];
    const start = await call(a, '/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
    expect(start.status, start.text).toBe(303);
    const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-admin' });
    const back = await call(a, gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
    expect(back.status, back.text).toBe(303);
    const session = back.cookie!;
    // Logging in remembers nothing, so only node B remembers the session, as admin, with its tokens.
    expect((await call(b, '/admin/before', { session })).status).toBe(200);

    ada.groups = [];
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      expect((await client.query('UPDATE oidc_sessions SET access_expires_at = $1', [Date.now() - 1_000])).rowCount).toBe(1);
    } finally {
      await client.end();
    }
    const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
    // Node A has not remembered the session: it reads the store, finds the access token due and refreshes.
    expect((await call(a, '/orders/refresh', { session })).status).toBe(200);
    expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);

    expect((await call(b, '/admin/after', { session })).status).toBe(403);
    expect((await call(a, '/admin/after', { session })).status).toBe(403);
    // Forgotten, not ended: the session goes on, on either node, with the roles it has now.
    expect((await call(b, '/orders/still', { session })).status).toBe(200);
  }, 60_000);
});
