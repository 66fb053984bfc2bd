import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, callOnFreshConnection, login, type Reply } from '../helpers/http.js';
import { freePort, gatehouse, seedForServe, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Issue 15, item 3 (decisions 0017, 0019): with `server.workers: 2` the primary of a real
 * `gatehouse serve` serves the console after /metrics, on services of its own. A lock made there is
 * the CLI's service call, so the locked user's next request at each worker is refused. Every public
 * request goes over a connection of its own, so the cluster spreads them; which worker answered is
 * read from the access log (its `pid`).
 */
const password = 'a long enough password';
let dir: string;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;
let admin: string;

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-workers-'));
  const [port, adminPort] = [await freePort(), await freePort()];
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1], workers: 2 }`,
    `admin: { host: 127.0.0.1, port: ${adminPort}, publicOrigin: "http://127.0.0.1:${adminPort}" }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    '',
  ].join('\n'));
  seedForServe(configFile, [{ name: 'root', roles: ['admin'] }, { name: 'alice' }], password);
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function answeredBy(replies: Reply[]): Promise<number[]> {
  const ids = replies.map((r) => String(r.headers['x-request-id']));
  return poll(async () => {
    const lines = serve.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; requestId?: string; pid?: number });
    const byId = new Map(lines.filter((l) => l.msg === 'request' && l.requestId).map((l) => [l.requestId!, l.pid]));
    return ids.map((id) => {
      const pid = byId.get(id);
      if (pid === undefined) throw new Error(`no access log line for ${id} yet`);
      return pid;
    });
  });
}

/** Sends `path` over fresh connections until both workers have answered; returns every reply. */
async function atBothWorkers(path: string, session: string): Promise<Reply[]> {
  const replies: Reply[] = [];
  await poll(async () => {
    for (let i = 0; i < 4; i += 1) replies.push(await callOnFreshConnection(base, path, { session }));
    if (new Set(await answeredBy(replies)).size < 2) throw new Error('one worker only so far');
  });
  return replies;
}

describe('admin console with server.workers: 2', () => {
  it('signs in with TOTP over HTTP at the primary; a lock there refuses the user at each worker', async () => {
    // root enrols TOTP through the public port (a worker), as a person would.
    const rootSession = await login(base, 'root', password);
    const setup = await call(base, '/auth/mfa/totp/setup', { method: 'POST', session: rootSession, body: {} });
    expect(setup.status).toBe(200);
    const secret = (setup.json() as { secret: string }).secret;
    // One step back for the confirmation, so the sign-in's code (this step) is not a replay.
    expect((await call(base, '/auth/mfa/totp/confirm', { method: 'POST', session: rootSession, body: { code: totpCode(secret, Date.now(), -1) } })).status).toBe(200);

    const signIn = await call(admin, '/api/login', { method: 'POST', body: { username: 'root', password, code: totpCode(secret, Date.now()) } });
    expect(signIn.status).toBe(200);
    const set = signIn.setCookie.find((c) => c.startsWith('gatehouse_admin='))!;
    const consoleCookie = `gatehouse_admin=${set.slice('gatehouse_admin='.length, set.indexOf(';'))}`;
    expect((await call(admin, '/api/session', { headers: { cookie: consoleCookie } })).json()).toMatchObject({ user: { name: 'root' } });

    const alice = await login(base, 'alice', password);
    const before = await atBothWorkers('/api/things', alice);
    expect(before.every((r) => r.status === 200)).toBe(true);
    // /metrics is still the primary's sum, before the console in the handler chain (asked once both
    // workers are up: a worker still starting does not answer the primary, and the scrape waits for it).
    expect((await call(admin, '/metrics')).text).toContain('gatehouse_requests_total');

    expect((await call(admin, '/api/users/lock', { method: 'POST', headers: { cookie: consoleCookie }, body: { name: 'alice' } })).status).toBe(204);

    // The very next request at each worker: refused, no wait.
    const after = await atBothWorkers('/api/things', alice);
    expect(after.map((r) => r.status)).toEqual(after.map(() => 401));
    expect(gatehouse(['user', 'list', '--json', '--config', join(dir, 'gatehouse.yaml')]).stdout).toMatch(/"locked":\s*true/);

    // The overview in the primary reads the workers' summed metrics (the /metrics text): over the
    // whole window, rate × interval adds up to every request answered since the start.
    const counted = async (status: string): Promise<number> => {
      const body = (await call(admin, '/api/overview', { headers: { cookie: consoleCookie } })).json() as { source: unknown; requests: { from: number; times: number[]; requestsPerSecond: Record<string, number[]> } };
      expect(body.source).toEqual({ events: 'audit', requests: 'metrics' });
      const { from, times, requestsPerSecond } = body.requests;
      return requestsPerSecond[status]!.reduce((sum, rate, i) => sum + rate * ((times[i]! - (i === 0 ? from : times[i - 1]!)) / 1000), 0);
    };
    // Every 200 and 401 above went through a worker (logins and TOTP calls beside them).
    expect(await counted('2xx')).toBeGreaterThanOrEqual(before.length - 1e-6);
    expect(await counted('4xx')).toBeGreaterThanOrEqual(after.length - 1e-6);
  });
});
