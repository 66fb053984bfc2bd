import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrangeStore, baseDocument, gatewayFolder, startFromFolder, type GatewayFolder, type RunningGateway } from '../helpers/file-gateway.js';
import { SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §3 upstream credential forms through a real gateway and upstream: header, basic (user and
 * password secrets) and query (a named query parameter). Bearer is covered by test/integration/proxy.
 */

const basicUser = 'svc-gatehouse';
const basicPassword = 'pw-9c2e1b8d6053-basic-f00d';

let upstream: TestUpstream;
let folder: GatewayFolder;
let gw: RunningGateway;
let cookie: string;

beforeAll(async () => {
  upstream = await startUpstream();
  // Echoes its own URL (query included) only under /echo-url: an upstream that reflects what it got.
  upstream.handle((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url?.includes('/echo-url') ? { url: req.url } : { ok: true }));
  });
  folder = gatewayFolder();
  folder.writeConfig(baseDocument({
    upstreams: [
      { name: 'header', url: upstream.url, credential: { type: 'header', name: 'X-Api-Key', secret: 'api-token' } },
      { name: 'basic', url: upstream.url, credential: { type: 'basic', user: 'api-user', password: 'api-password' } },
      { name: 'query', url: upstream.url, credential: { type: 'query', name: 'api_key', secret: 'api-token' } },
    ],
    routes: ['header', 'basic', 'query'].map((name) => ({ path: `/${name}/**`, methods: ['GET'], upstream: name, stripPrefix: `/${name}` })),
  }));
  await arrangeStore(folder, { secrets: { 'api-token': SECRET, 'api-user': basicUser, 'api-password': basicPassword }, users: [{ name: 'alice' }] });
  gw = await startFromFolder(folder);
  cookie = await login(gw.url, 'alice');
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  folder?.remove();
});

/** How often a header name occurs in what the upstream received (rawHeaders keeps duplicates). */
function occurrences(rawHeaders: string[], name: string): number {
  return rawHeaders.filter((_, i) => i % 2 === 0).filter((h) => h.toLowerCase() === name).length;
}

describe('upstream credential forms', () => {
  it('header: the secret goes in the named header, replacing the client\'s own, and no Authorization is forwarded', async () => {
    const reply = await call(gw.url, '/header/v1/items', { session: cookie, headers: { 'x-api-key': 'client-chosen-key', authorization: 'Bearer client-token-123456' } });
    expect(reply.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.url).toBe('/v1/items');
    expect(seen.headers['x-api-key']).toBe(SECRET);
    expect(occurrences(seen.rawHeaders, 'x-api-key')).toBe(1);
    expect(seen.headers.authorization).toBeUndefined();
    expect(reply.text).not.toContain(SECRET);
  });

  it('basic: Authorization is Basic base64(user:password) from the two secrets, replacing the client\'s', async () => {
    const reply = await call(gw.url, '/basic/v1/items', { session: cookie, headers: { authorization: 'Basic Y2xpZW50OmNsaWVudA==' } });
    expect(reply.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers.authorization).toBe(`Basic ${Buffer.from(`${basicUser}:${basicPassword}`).toString('base64')}`);
    expect(occurrences(seen.rawHeaders, 'authorization')).toBe(1);
    expect(reply.text).not.toContain(basicPassword);
  });

  it('query: the secret is the named parameter; the client\'s parameters of that name (any case) are removed, the others kept', async () => {
    const reply = await call(gw.url, '/query/v1/items?a=1&api_key=client-chosen&b=two%20words&API_KEY=x&api%5Fkey=y', { session: cookie });
    expect(reply.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    const url = new URL(seen.url, 'http://upstream');
    expect(url.pathname).toBe('/v1/items');
    expect(url.searchParams.getAll('api_key')).toEqual([SECRET]);
    expect([...url.searchParams.keys()].filter((k) => k.toLowerCase() === 'api_key')).toEqual(['api_key']);
    expect(url.searchParams.get('a')).toBe('1');
    expect(url.searchParams.get('b')).toBe('two words');
    expect(seen.headers.authorization).toBeUndefined();
    expect(reply.text).not.toContain(SECRET);
  });

  it('query: the access log line has the path without its query, and no log line holds the secret', async () => {
    const reply = await call(gw.url, '/query/v1/logged?api_key=client-chosen-value', { session: cookie });
    expect(reply.status).toBe(200);
    const requestId = reply.headers['x-request-id'];
    // The access line is written when the server side of the response closes: wait for it briefly.
    const accessLine = (): Record<string, unknown> | undefined => gw.logs().split('\n').filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'request' && line.requestId === requestId);
    for (let tries = 0; !accessLine() && tries < 50; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    const access = accessLine();
    expect(access).toMatchObject({ path: '/query/v1/logged', status: 200 });
    expect(JSON.stringify(access)).not.toContain('?');
    const logs = gw.logs();
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(encodeURIComponent(SECRET));
    expect(logs).not.toContain('client-chosen-value');
  });

  it('query: an upstream that reflects its URL would hand the secret to the browser; the leak guard withholds it (502)', async () => {
    const reply = await call(gw.url, '/query/echo-url', { session: cookie });
    expect(reply.status).toBe(502);
    expect(reply.json().error.code).toBe('secret_leak_blocked');
    expect(reply.text).not.toContain(SECRET);
    expect(upstream.seen.at(-1)!.url).toContain('api_key=');
  });
});
