import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { runRaw } from '../cli/harness.js';
import { testServer } from '../helpers/gateway.js';
import { callOnFreshConnection, type Call, type Reply } from '../helpers/http.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf, userTokenYaml } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { freePort, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §9 "concurrent requests of one session cause exactly one refresh at the provider, across
 * processes": the 50-request burst of oidc-refresh.test.ts, each request on a connection of its
 * own, handed out in turn to the two workers of `serve` (server.workers: 2, SQLite). The workers
 * share nothing but the store, so only the lease (decision 0011) keeps the second from refreshing
 * with the refresh token the first one's refresh consumed. The workers run on the real clock, so
 * the test makes the session's access token expire by writing its recorded expiry into the past,
 * through the store file the workers use.
 */

let dir: string;
let provider: TestProvider;
let orders: TestUpstream;
let serve: ServeProcess;
let base: string;

function fresh(path: string, options: Call = {}): Promise<Reply> {
  return callOnFreshConnection(base, path, options);
}

beforeAll(async () => {
  provider = await startProvider({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')] }], accounts, ttl: { accessToken: 60, idToken: 3600 } });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-refresh-workers-'));
  const port = await freePort();
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    ...userTokenYaml(provider.issuer, orders.url),
    '',
  ].join('\n'));
  const stored = await runRaw(['secret', 'set', 'corp-oidc', '--config', configFile], { stdin: CLIENT_SECRET });
  expect(stored.code, stored.stderr).toBe(0);
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
  await poll(async () => {
    for (let i = 0; i < 4; i++) await fresh('/healthz');
    const pids = new Set(serve.output().split('\n').filter((l) => l.includes('gatehouse listening')).map((l) => (JSON.parse(l) as { pid?: number }).pid));
    if (pids.size < 2) throw new Error('one worker only so far');
  });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await orders?.close();
  await provider?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('refresh with server.workers: 2 (SPEC §9, issue 13 item 6)', () => {
  it('50 parallel requests of one session with an expired access token, spread over both workers: one refresh at the provider, all 200, one new token upstream', async () => {
    const start = await fresh('/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
    expect(start.status, start.text).toBe(303);
    const loginCookie = loginCookieOf(start);
    const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-user' });
    const back = await fresh(gatewayPath(callback), { csrf: false, headers: { cookie: loginCookie } });
    expect(back.status, back.text).toBe(303);
    const session = back.cookie!;

    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    try {
      const [record] = await store.sessions.list({ userName: 'corp.alice' });
      const oidc = (await store.oidc.getSession(record!.handle))!;
      await store.oidc.putSession({ ...oidc, accessExpiresAt: Date.now() - 1_000 });
    } finally {
      await store.close();
    }

    const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
    const seenFrom = orders.seen.length;
    const logFrom = serve.output().length;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => fresh(`/orders/burst/${i}`, { session })));

    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);
    expect(new Set(orders.seen.slice(seenFrom).map((s) => String(s.headers.authorization))).size).toBe(1);
    // Both workers answered part of the burst (their access log lines arrive when each flushes).
    const burstLines = (): string[] => serve.output().slice(logFrom).split('\n').filter((l) => l.includes('/orders/burst/'));
    await poll(async () => {
      if (burstLines().length < 50) throw new Error('access log lines still on their way');
    });
    expect(new Set(burstLines().map((l) => (JSON.parse(l) as { pid?: number }).pid)).size).toBe(2);
  }, 60_000);
});
