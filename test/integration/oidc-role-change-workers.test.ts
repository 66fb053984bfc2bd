import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { runRaw } from '../cli/harness.js';
import { testServer } from '../helpers/gateway.js';
import { callOnFreshConnection, type Call, type Reply } from '../helpers/http.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type ProviderAccount, type TestProvider } from '../helpers/oidc-provider.js';
import { freePort, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §9 "Roles are computed from the claims at every login and refresh", with SPEC §8's memory:
 * each worker of `serve` (server.workers: 2, SQLite) remembers the sessions it served, user and
 * roles included, for up to 30 s (decision 0008). A role the provider took away must not live on in
 * the other worker's memory: a refresh (or a login) that changes the user's roles makes every
 * process forget the user's sessions, through the revocation path, before it answers, so an
 * admin-only route answers 403 at either worker on the very next request. Connections are handed
 * out to the workers in turn; each request below is on a connection of its own, and its access log
 * line tells which worker (pid) answered it. The workers run on the real clock, so the access token
 * is made due by writing its recorded expiry into the past, which only a worker that does not hold
 * the session's tokens in memory (decision 0012) reads.
 */

let dir: string;
let provider: TestProvider;
let orders: TestUpstream;
let serve: ServeProcess;
let base: string;
/** The provider's own copy of the accounts: a test takes a group away from one. */
const own: ProviderAccount[] = accounts.map((a) => ({ ...a, groups: [...(a.groups ?? [])] }));
const ada = own.find((a) => a.sub === 'sub-admin')!;

function fresh(path: string, options: Call = {}): Promise<Reply> {
  return callOnFreshConnection(base, path, options);
}

async function login(): Promise<string> {
  const start = await fresh('/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
  expect(start.status, start.text).toBe(303);
  const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-admin' });
  const back = await fresh(gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
  expect(back.status, back.text).toBe(303);
  return back.cookie!;
}

/** Requests `path` + i on fresh connections, one after another; the pids of the workers that answered them. */
async function inTurn(prefix: string, session: string, count: number): Promise<{ statuses: number[]; pids: Set<number> }> {
  const logFrom = serve.output().length;
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await fresh(`${prefix}${i}`, { session })).status);
  const lines = (): string[] => serve.output().slice(logFrom).split('\n').filter((l) => l.includes(prefix));
  await poll(async () => {
    if (lines().length < count) throw new Error('access log lines still on their way');
  });
  return { statuses, pids: new Set(lines().map((l) => (JSON.parse(l) as { pid: number }).pid)) };
}

interface Answer { status: number; pid: number }

/** Requests `path` (used once) on a fresh connection: its status and the pid of the worker that answered. */
async function answered(path: string, session: string): Promise<Answer> {
  const status = (await fresh(path, { session })).status;
  const pid = await poll(async () => {
    const line = serve.output().split('\n').find((l) => l.includes(`"path":${JSON.stringify(path)}`));
    if (!line) throw new Error('access log line still on its way');
    return (JSON.parse(line) as { pid: number }).pid;
  });
  return { status, pid };
}

/**
 * Requests `prefix` + i, one fresh connection each, until one lands on a worker `wanted`: every
 * answer, that one last. Connections go to the workers in turn, so it takes one or two; the bound only
 * turns a surprise into a failure instead of a hang.
 */
async function until(wanted: (pid: number) => boolean, prefix: string, session: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < 6; i++) {
    answers.push(await answered(`${prefix}${i}`, session));
    if (wanted(answers.at(-1)!.pid)) return answers;
  }
  throw new Error(`no request under ${prefix} reached the wanted worker: ${JSON.stringify(answers)}`);
}

beforeAll(async () => {
  provider = await startProvider({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')] }], accounts: own, ttl: { accessToken: 60, idToken: 3600 } });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-role-change-workers-'));
  const port = await freePort();
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: orders, url: "${orders.url}", credential: { type: user-token, provider: corp } }]`,
    'routes: [{ path: /orders/**, methods: [GET], upstream: orders, stripPrefix: /orders }, { path: /admin/**, methods: [GET], upstream: orders, roles: [admin] }]',
    `oidc: { providers: [{ name: corp, issuer: "${provider.issuer}", clientId: ${CLIENT_ID}, clientSecret: corp-oidc, scopes: [openid, profile, email, groups], roles: [{ role: admin, claim: groups, includes: gatehouse-admins }, { role: user, claim: email_verified, equals: true }], allowInsecureHttp: true }] }`,
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

describe('a role change reaches every worker at once (SPEC §8, §9; issue 13 items 3 and 6)', () => {
  it('a refresh in one worker that removes admin: the admin-only route answers 403 at the other worker, which remembered the session as admin, on its very next request', async () => {
    ada.groups = ['gatehouse-admins'];
    const session = await login();
    // Logging in remembers nothing, so only the worker that answers this (B) remembers the session,
    // as admin, with its tokens.
    const remembered = await answered('/admin/before', session);
    expect(remembered.status).toBe(200);
    const b = remembered.pid;

    ada.groups = [];
    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    try {
      const [record] = await store.sessions.list({ userName: 'corp.ada' });
      const oidc = (await store.oidc.getSession(record!.handle))!;
      await store.oidc.putSession({ ...oidc, accessExpiresAt: Date.now() - 1_000 });
      const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
      // The other worker (A) has not remembered the session: it reads the store, finds the access
      // token due and refreshes. A request that lands on B first is answered from B's memory, where
      // the token is still fresh, and refreshes nothing.
      const refreshed = await until((pid) => pid !== b, '/orders/refresh/', session);
      expect(refreshed.map((a) => a.status)).toEqual(refreshed.map(() => 200));
      expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);
      expect((await store.users.get('corp.ada'))!.roles).toEqual(['user']);
    } finally {
      await store.close();
    }

    // B's very next request (any that lands on A before it is A's, and must be refused too).
    const atB = await until((pid) => pid === b, '/admin/after-b/', session);
    expect(atB.map((a) => a.status)).toEqual(atB.map(() => 403));
    const atA = await until((pid) => pid !== b, '/admin/after-a/', session);
    expect(atA.map((a) => a.status)).toEqual(atA.map(() => 403));
    // Forgotten, not ended: the session goes on with the roles it has now.
    expect((await fresh('/orders/still', { session })).status).toBe(200);
  }, 60_000);

  it('a login that removes admin: the same user\'s other session answers 403 at both workers on the very next requests', async () => {
    ada.groups = ['gatehouse-admins'];
    const first = await login();
    const before = await inTurn('/admin/first/', first, 4);
    expect(before.statuses).toEqual([200, 200, 200, 200]);
    expect(before.pids.size).toBe(2);

    ada.groups = [];
    await login();
    const after = await inTurn('/admin/second/', first, 4);
    expect(after.statuses).toEqual([403, 403, 403, 403]);
    expect(after.pids.size).toBe(2);
  }, 60_000);
});
