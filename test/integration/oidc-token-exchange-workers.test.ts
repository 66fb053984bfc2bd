import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../cli/harness.js';
import { testServer } from '../helpers/gateway.js';
import { callOnFreshConnection, type Call, type Reply } from '../helpers/http.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf } from '../helpers/oidc-journey.js';
import { completeLogin, startProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { freePort, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Token exchange (RFC 8693, decision 0013) over the two workers of `serve` (SQLite): each worker
 * keeps its own exchanged tokens, so a burst spread over both costs at most one exchange per worker
 * (a second one is harmless: an exchange consumes nothing), and later requests cost none. A new
 * exchange after a refresh is proven in one process with a moved clock
 * (oidc-token-exchange.test.ts): the workers run on the real clock, and the tests do not wait for it.
 */

const audience = 'https://orders.api';
let dir: string;
let provider: TestProvider;
let orders: TestUpstream;
let serve: ServeProcess;
let base: string;

function fresh(path: string, options: Call = {}): Promise<Reply> {
  return callOnFreshConnection(base, path, options);
}

beforeAll(async () => {
  provider = await startProvider({
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')] }],
    accounts,
    ttl: { accessToken: 600, idToken: 3600 },
    tokenExchange: { audiences: { [audience]: ['orders.read'] } },
  });
  orders = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-exchange-workers-'));
  const port = await freePort();
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: orders, url: "${orders.url}", credential: { type: user-token, provider: corp, exchange: { audience: "${audience}", scope: orders.read } } }]`,
    'routes: [{ path: /orders/**, methods: [GET], upstream: orders, stripPrefix: /orders }]',
    `oidc: { providers: [{ name: corp, issuer: "${provider.issuer}", clientId: ${CLIENT_ID}, clientSecret: corp-oidc, scopes: [openid, profile, email, groups], roles: [{ role: user, claim: email_verified, equals: true }], allowInsecureHttp: true }] }`,
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

describe('token exchange with server.workers: 2', () => {
  it('a burst over both workers: at most one exchange per worker, then none', async () => {
    const start = await fresh('/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
    expect(start.status, start.text).toBe(303);
    const loginCookie = loginCookieOf(start);
    const callback = await completeLogin(String(start.headers.location), provider.issuer, { login: 'sub-user' });
    const back = await fresh(gatewayPath(callback), { csrf: false, headers: { cookie: loginCookie } });
    expect(back.status, back.text).toBe(303);
    const session = back.cookie!;

    const burst = async (tag: string): Promise<string[]> => {
      const from = orders.seen.length;
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => fresh(`/orders/${tag}/${i}`, { session })));
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      return orders.seen.slice(from).map((s) => String(s.headers.authorization).slice('Bearer '.length));
    };

    const first = await burst('first');
    expect(provider.exchanges.length).toBeGreaterThanOrEqual(1);
    expect(provider.exchanges.length).toBeLessThanOrEqual(2);
    for (const token of new Set(first)) expect(await provider.inspect(token)).toMatchObject({ sub: 'sub-user', aud: audience, scope: 'orders.read', exchanged: true });

    const exchangedBefore = provider.exchanges.length;
    const second = await burst('second');
    expect(provider.exchanges.length).toBe(exchangedBefore);
    for (const token of second) expect(first).toContain(token);
  }, 60_000);
});
