import { beforeAll, describe, expect, it } from 'vitest';
import { SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { rawExchange } from '../helpers/attack.js';
import type { SeenRequest } from '../helpers/upstream.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Connection-header abuse (hop-by-hop header injection): `Connection` lists headers a proxy must
 * drop before forwarding (RFC 9110 §7.6.1). A client names the credential, the CSRF header, the
 * cookie or the framing headers there, hoping the gateway removes what it added itself (the
 * upstream then sees no credential, or the client's), skips a check, or re-frames the body so that
 * it desynchronises from the upstream.
 */

let alice: string;

const env = useGateway((upstream) => ({
  config: {
    upstreams: [
      { name: 'api', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' },
      { name: 'keyed', url: upstream.url, credential: { type: 'header', name: 'X-Api-Key', secret: 'api-token' }, timeout: '2s' },
    ],
    routes: [
      { path: '/keyed/**', methods: ['GET'], upstream: 'keyed', stripPrefix: '/keyed' },
      { path: '/api/public/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api/public', public: true },
      { path: '/api/**', methods: ['GET', 'POST'], upstream: 'api', stripPrefix: '/api' },
    ],
  },
}));
beforeAll(async () => {
  alice = await login(env.gw.url);
});

function lines(seen: SeenRequest, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    if (seen.rawHeaders[i]!.toLowerCase() === name) values.push(seen.rawHeaders[i + 1]!);
  }
  return values;
}

function only(): SeenRequest {
  expect(env.upstream.seen).toHaveLength(1);
  return env.upstream.seen[0]!;
}

describe('Connection header abuse', () => {
  it('Connection: Authorization — the credential is still attached, exactly once, and the client\'s is not', async () => {
    for (const connection of ['Authorization', 'authorization', 'keep-alive, Authorization', 'close, AUTHORIZATION']) {
      env.upstream.seen.length = 0;
      const reply = await call(env.gw.url, '/api/x', { session: alice, headers: { connection, authorization: 'Bearer client-chosen' } });
      expect(reply.status, connection).toBe(200);
      expect(lines(only(), 'authorization'), connection).toEqual([`Bearer ${SECRET}`]);
    }
  });

  it('Connection naming a header credential (X-Api-Key) does not remove it either', async () => {
    await call(env.gw.url, '/keyed/x', { session: alice, headers: { connection: 'X-Api-Key', 'x-api-key': 'client-chosen' } });
    expect(lines(only(), 'x-api-key')).toEqual([SECRET]);
  });

  it('Connection: X-CSRF does not skip the CSRF check, and X-CSRF is still not forwarded', async () => {
    const without = await call(env.gw.url, '/api/x', { method: 'POST', session: alice, csrf: false, body: {}, headers: { connection: 'X-CSRF' } });
    expect(without.status).toBe(403);
    expect(without.json().error.code).toBe('csrf_rejected');
    expect(env.upstream.seen).toHaveLength(0);

    const withHeader = await call(env.gw.url, '/api/x', { method: 'POST', session: alice, body: {}, headers: { connection: 'X-CSRF' } });
    expect(withHeader.status).toBe(200);
    const seen = only();
    expect(seen.headers['x-csrf']).toBeUndefined();
    expect(lines(seen, 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('Connection: Cookie does not hide the session from the gateway, nor forward the cookie', async () => {
    const reply = await call(env.gw.url, '/api/x', { session: alice, headers: { connection: 'Cookie' } });
    expect(reply.status).toBe(200);
    expect(only().headers.cookie).toBeUndefined();
    // And without a cookie, naming it changes nothing: still 401.
    expect((await call(env.gw.url, '/api/x', { headers: { connection: 'Cookie' } })).status).toBe(401);
  });

  it('Connection naming the gateway\'s own forwarding headers does not remove them', async () => {
    await call(env.gw.url, '/api/x', { session: alice, headers: { connection: 'X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Request-Id, Host' } });
    const seen = only();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe('localhost:8080');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(seen.headers.host).toBe(`127.0.0.1:${env.upstream.port}`);
  });

  it('Connection: Content-Length, Content-Type — the forwarded body keeps its length and type, and the connection stays in sync', async () => {
    const head = [
      'POST /api/upload HTTP/1.1',
      'Host: localhost:8080',
      `Cookie: gatehouse=${alice}`,
      'X-CSRF: 1',
      'Connection: Content-Length, Content-Type',
      'Content-Type: application/json',
      'Content-Length: 25',
    ].join('\r\n');
    const next = 'GET /api/public/next HTTP/1.1\r\nHost: localhost:8080\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n';
    // The body arrives in two parts, so only the declared length can tell the upstream its size.
    const reply = await rawExchange(env.gw.gateway.port, [`${head}\r\n\r\n{"part":"one",`, `"two":true}${next}`], { gapMs: 100 });
    expect(reply.statuses).toEqual([200, 200]);
    expect(env.upstream.seen.map((s) => s.url)).toEqual(['/upload', '/next']);
    const upload = env.upstream.seen[0]!;
    expect(upload.body.toString()).toBe('{"part":"one","two":true}');
    expect(lines(upload, 'content-length')).toEqual(['25']);
    expect(upload.headers['transfer-encoding']).toBeUndefined();
    expect(upload.headers['content-type']).toBe('application/json');
    expect(lines(upload, 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('Connection: Transfer-Encoding on a chunked body — the body is delivered whole and nothing after it becomes a request', async () => {
    const head = [
      'POST /api/upload HTTP/1.1',
      'Host: localhost:8080',
      `Cookie: gatehouse=${alice}`,
      'X-CSRF: 1',
      'Connection: Transfer-Encoding',
      'Transfer-Encoding: chunked',
    ].join('\r\n');
    const next = 'GET /api/public/next HTTP/1.1\r\nHost: localhost:8080\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n';
    const reply = await rawExchange(env.gw.gateway.port, [`${head}\r\n\r\n5\r\nhello\r\n`, `6\r\n world\r\n0\r\n\r\n${next}`], { gapMs: 100 });
    expect(reply.statuses).toEqual([200, 200]);
    expect(env.upstream.seen.map((s) => s.url)).toEqual(['/upload', '/next']);
    expect(env.upstream.seen[0]!.body.toString()).toBe('hello world');
  });

  it('an upstream naming Content-Type, Content-Length or X-Request-Id in Connection cannot strip them from the response', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, { connection: 'Content-Type, Content-Length, X-Request-Id, X-Content-Type-Options', 'content-type': 'application/json', 'content-length': '11', 'x-request-id': 'upstream-id' });
      res.end('{"ok":true}');
    });
    const reply = await call(env.gw.url, '/api/x', { session: alice });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(reply.text).toBe('{"ok":true}');
  });
});
