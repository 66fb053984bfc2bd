import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { runRaw } from '../cli/harness.js';
import { testServer } from '../helpers/gateway.js';
import { callOnFreshConnection, type Call, type Reply } from '../helpers/http.js';
import { realTimeLogoutClaims, signLogoutToken } from '../helpers/logout-token.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf, userTokenYaml } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { freePort, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §9 "the sessions of that provider session end at once" and §8 "revocation stays immediate",
 * across the two workers of `serve` (server.workers: 2, SQLite): each worker remembers the session
 * (session memory), the logout token reaches one of them, and the very next requests, on fresh
 * connections that the workers take in turn, are all refused, by both workers.
 */

let dir: string;
let provider: TestProvider;
let orders: TestUpstream;
let serve: ServeProcess;
let base: string;

function fresh(path: string, options: Call = {}): Promise<Reply> {
  return callOnFreshConnection(base, path, options);
}

function pidsOf(from: number, path: string): Set<number | undefined> {
  return new Set(serve.output().slice(from).split('\n').filter((l) => l.includes(path)).map((l) => (JSON.parse(l) as { pid?: number }).pid));
}

beforeAll(async () => {
  const port = await freePort();
  // The provider puts `sid` in the ID token of a client registered for back-channel logout.
  provider = await startProvider({
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')], backchannelLogoutUri: `http://127.0.0.1:${port}/auth/oidc/backchannel-logout/corp` }],
    accounts,
    backchannelLogout: true,
  });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-backchannel-workers-'));
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    ...userTokenYaml(provider.issuer, orders.url).map((line) => line.replace('allowInsecureHttp: true }', 'allowInsecureHttp: true, backchannelLogout: true }')),
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

describe('back-channel logout with server.workers: 2 (SPEC §9, issue 13 item 7)', () => {
  it('a logout token received by one worker: the very next requests, on both workers, are refused', async () => {
    const start = await fresh('/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
    expect(start.status, start.text).toBe(303);
    const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-user' });
    const back = await fresh(gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
    expect(back.status, back.text).toBe(303);
    const session = back.cookie!;

    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    let target: { sid: string | null; sub: string; issuer: string };
    try {
      const [record] = await store.sessions.list({ userName: 'corp.alice' });
      const oidc = (await store.oidc.getSession(record!.handle))!;
      target = { sid: oidc.sid, sub: oidc.subject, issuer: oidc.issuer };
    } finally {
      await store.close();
    }
    expect(target.sid).toBeTruthy();

    // Both workers know the session (and remember it: their next answer would come from memory).
    const warmFrom = serve.output().length;
    for (let i = 0; i < 6; i++) expect((await fresh(`/auth/session?warm=${i}`, { session })).status).toBe(200);
    await poll(async () => {
      if (pidsOf(warmFrom, '/auth/session').size < 2) throw new Error('not both workers yet');
    });

    const logFrom = serve.output().length;
    const posted = await fresh('/auth/oidc/backchannel-logout/corp', {
      method: 'POST',
      csrf: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: await signLogoutToken({ provider }, realTimeLogoutClaims(target.issuer, target)) }).toString(),
    });
    expect(posted.status, posted.text).toBe(200);
    const next = await Promise.all(Array.from({ length: 6 }, (_, i) => fresh(`/auth/session?next=${i}`, { session })));
    expect(next.map((r) => r.status)).toEqual(Array(6).fill(401));
    await poll(async () => {
      if (pidsOf(logFrom, '/auth/session').size < 2) throw new Error('access log lines still on their way');
    });
  }, 60_000);
});
