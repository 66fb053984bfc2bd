import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../helpers/gateway.js';
import { call, type Reply } from '../helpers/http.js';
import { realTimeLogoutClaims, signLogoutToken } from '../helpers/logout-token.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf, userTokenYaml } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §9 back-channel logout "on the very next request (every worker and node)": two `serve` nodes
 * sharing one PostgreSQL and one Redis, each remembering the session; the logout token reaches node
 * A, and the very next request at node B is refused. A replay of the token at node B is refused too
 * (the jti is recorded in the shared store).
 */

const postgres = usePostgres();
const redis = useRedis();
let dir: string;
let databaseUrl: string;
let provider: TestProvider;
let orders: TestUpstream;
const nodes: { serve: ServeProcess; base: string }[] = [];

beforeAll(async () => {
  const ports = [await freePort(), await freePort()];
  // The provider puts `sid` in the ID token of a client registered for back-channel logout (at node A).
  provider = await startProvider({
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')], backchannelLogoutUri: `http://127.0.0.1:${ports[0]}/auth/oidc/backchannel-logout/corp` }],
    accounts,
    backchannelLogout: true,
  });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-backchannel-two-nodes-'));
  databaseUrl = await postgres.server.createDatabase();
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const configs: { file: string; port: number }[] = [];
  for (const [i, name] of ['a', 'b'].entries()) {
    const port = ports[i]!;
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, [
      `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1] }`,
      `store: { postgres: "${databaseUrl}", timeout: 5s }`,
      `cache: { redis: "${redis.server.url}", prefix: "bl:" }`,
      'masterKey: file:./master.key',
      ...userTokenYaml(provider.issuer, orders.url).map((line) => line.replace('allowInsecureHttp: true }', 'allowInsecureHttp: true, backchannelLogout: true }')),
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

describe('back-channel logout over two nodes on PostgreSQL (SPEC §9, issue 13 item 7)', () => {
  it('a logout token received by node A: the very next request at node B is refused; its replay at node B too', async () => {
    const [a, b] = [nodes[0]!.base, nodes[1]!.base];
    const start = await call(a, '/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
    expect(start.status, start.text).toBe(303);
    const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-user' });
    const back: Reply = await call(b, gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
    expect(back.status, back.text).toBe(303);
    const session = back.cookie!;
    // Both nodes know the session (and remember it).
    for (const base of [a, b, a, b]) expect((await call(base, '/auth/session', { session })).status).toBe(200);

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    let target: { sid: string | null; sub: string; issuer: string };
    try {
      const row = (await client.query<{ sid: string | null; subject: string; issuer: string }>('SELECT sid, subject, issuer FROM oidc_sessions')).rows[0]!;
      target = { sid: row.sid, sub: row.subject, issuer: row.issuer };
    } finally {
      await client.end();
    }
    expect(target.sid).toBeTruthy();

    const form = new URLSearchParams({ logout_token: await signLogoutToken({ provider }, realTimeLogoutClaims(target.issuer, target)) }).toString();
    const post = (base: string): Promise<Reply> => call(base, '/auth/oidc/backchannel-logout/corp', { method: 'POST', csrf: false, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    expect((await post(a)).status).toBe(200);
    expect((await call(b, '/auth/session', { session })).status).toBe(401);
    expect((await call(a, '/auth/session', { session })).status).toBe(401);
    const replay = await post(b);
    expect([replay.status, replay.json().error.code]).toEqual([400, 'invalid_logout_token']);
  }, 60_000);
});
