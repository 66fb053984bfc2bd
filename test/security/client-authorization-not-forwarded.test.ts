import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { rawExchange, rawHead } from '../helpers/attack.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';

/**
 * A client's own credentials reaching the upstream: a logged-in user sends an Authorization (or
 * the header/query parameter the upstream's credential uses) of their choosing, hoping the upstream
 * reads theirs instead of — or before — Gatehouse's secret (a privilege change, or a way to probe
 * the upstream's auth). SPEC §4.4: Authorization and Proxy-* are never forwarded, and the credential
 * replaces any client header of the same name.
 */

let upstream: TestUpstream;
let gw: TestGateway;
let alice: string;
const basicToken = Buffer.from(`${SECRET}:${SECRET}`).toString('base64');

beforeAll(async () => {
  upstream = await startUpstream();
  const credentials = {
    bearer: { type: 'bearer', secret: 'api-token' },
    header: { type: 'header', name: 'X-Api-Key', secret: 'api-token' },
    query: { type: 'query', name: 'api_key', secret: 'api-token' },
    basic: { type: 'basic', user: 'api-token', password: 'api-token' },
  };
  gw = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      upstreams: [
        ...Object.entries(credentials).map(([name, credential]) => ({ name, url: upstream.url, credential, timeout: '2s' })),
        { name: 'none', url: upstream.url, timeout: '2s' },
      ],
      routes: [
        ...['bearer', 'header', 'query', 'basic', 'none'].map((name) => ({ path: `/${name}/**`, methods: ['GET', 'POST'], upstream: name, stripPrefix: `/${name}` })),
        { path: '/public/**', methods: ['GET'], upstream: 'bearer', stripPrefix: '/public', public: true },
      ],
    },
  });
  alice = await login(gw.url);
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});
afterEach(() => {
  upstream.handle(null);
  upstream.seen.length = 0;
});

function only(): SeenRequest {
  expect(upstream.seen).toHaveLength(1);
  return upstream.seen[0]!;
}

function headerLines(seen: SeenRequest, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    if (seen.rawHeaders[i]!.toLowerCase() === name) values.push(seen.rawHeaders[i + 1]!);
  }
  return values;
}

const clientAuthorizations = ['Bearer client-chosen-token', 'Basic YWRtaW46YWRtaW4=', `Bearer ${SECRET}-but-longer`, 'Negotiate abc'];

describe('client Authorization is not forwarded', () => {
  it('bearer upstream: the client Authorization is replaced; exactly one Authorization arrives, the secret', async () => {
    for (const value of clientAuthorizations) {
      upstream.seen.length = 0;
      await call(gw.url, '/bearer/x', { session: alice, headers: { authorization: value } });
      const seen = only();
      expect(headerLines(seen, 'authorization'), value).toEqual([`Bearer ${SECRET}`]);
    }
  });

  it('two Authorization lines on the wire still give the upstream exactly one, the secret', async () => {
    const reply = await rawExchange(gw.gateway.port, rawHead('GET /bearer/x HTTP/1.1', {
      session: alice,
      headers: ['Authorization: Bearer first-client-token', 'authorization: Bearer second-client-token'],
    }));
    expect(reply.statuses).toEqual([200]);
    expect(headerLines(only(), 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('on a public route (no session at all) the client Authorization is replaced too', async () => {
    await call(gw.url, '/public/x', { headers: { authorization: 'Bearer client-chosen-token' } });
    expect(headerLines(only(), 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('basic upstream: the client Authorization is replaced by the configured user and password', async () => {
    await call(gw.url, '/basic/x', { session: alice, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect(headerLines(only(), 'authorization')).toEqual([`Basic ${basicToken}`]);
  });

  it('header upstream: a client X-Api-Key in any case is replaced; a client Authorization is dropped', async () => {
    for (const name of ['X-Api-Key', 'x-api-key', 'X-API-KEY']) {
      upstream.seen.length = 0;
      await call(gw.url, '/header/x', { session: alice, headers: { [name]: 'client-chosen-key', authorization: 'Bearer client-chosen-token' } });
      const seen = only();
      expect(headerLines(seen, 'x-api-key'), name).toEqual([SECRET]);
      expect(headerLines(seen, 'authorization'), name).toEqual([]);
    }
  });

  it('query upstream: client parameters with the credential\'s name (any case, encoded) are replaced', async () => {
    // The default upstream echoes its URL, which now holds the secret: the leak guard would withhold that.
    upstream.handle((_req, res) => res.end('{}'));
    const reply = await call(gw.url, '/query/x?api_key=client1&API_KEY=client2&api%5Fkey=client3&Api_Key=client4&keep=1', { session: alice });
    expect(reply.status).toBe(200);
    const url = new URL(only().url, 'http://upstream');
    expect(url.searchParams.getAll('api_key')).toEqual([SECRET]);
    expect(url.search).not.toContain('client');
    expect(url.searchParams.get('keep')).toBe('1');
  });

  it('an upstream without a credential gets no Authorization at all', async () => {
    await call(gw.url, '/none/x', { session: alice, headers: { authorization: 'Bearer client-chosen-token' } });
    expect(headerLines(only(), 'authorization')).toEqual([]);
  });

  it('Proxy-Authorization and other proxy credentials never reach the upstream', async () => {
    await call(gw.url, '/bearer/x', {
      session: alice,
      headers: { 'proxy-authorization': 'Basic cHJveHk6cHJveHk=', 'proxy-authenticate': 'x', 'proxy-connection': 'keep-alive' },
    });
    const seen = only();
    expect(Object.keys(seen.headers).filter((name) => name.startsWith('proxy-'))).toEqual([]);
  });

  it('no client-chosen credential appears anywhere in what the upstream received', async () => {
    await call(gw.url, '/bearer/x', { method: 'POST', session: alice, body: {}, headers: { authorization: 'Bearer client-chosen-token', 'proxy-authorization': 'Bearer client-chosen-token' } });
    expect(JSON.stringify(only())).not.toContain('client-chosen-token');
  });
});
