import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, login, rawRequest } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

let alice: string;

const env = useGateway({
  config: { static: fileURLToPath(new URL('../fixtures/site', import.meta.url)) },
});
beforeAll(async () => {
  alice = await login(env.gw.url);
});

describe('every endpoint declares its access level', () => {
  it('walks the endpoint table', () => {
    const rt = env.gw.gateway.runtime;
    const endpoints = [...rt.ownEndpoints.values(), ...rt.routeEndpoints];
    expect(endpoints.length).toBeGreaterThan(5);
    for (const endpoint of endpoints) {
      expect(['public', 'optional', 'session'], endpoint.id).toContain(endpoint.access);
      expect(typeof endpoint.csrf, endpoint.id).toBe('boolean');
      expect(endpoint.methods.size, endpoint.id).toBeGreaterThan(0);
      // Only GET/HEAD endpoints may skip CSRF (SPEC §4.3).
      if (!endpoint.csrf) expect([...endpoint.methods].every((m) => m === 'GET' || m === 'HEAD'), endpoint.id).toBe(true);
    }
  });
});

describe('checks for every request', () => {
  it('refuses TRACE everywhere with 405', async () => {
    for (const path of ['/api/things', '/auth/login', '/healthz', '/']) {
      const reply = await call(env.gw.url, path, { method: 'TRACE', session: alice });
      expect(reply.status, path).toBe(405);
      expect(reply.json().error.code).toBe('method_not_allowed');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('refuses CONNECT with 405 and closes', async () => {
    const text = await rawRequest(env.gw.gateway.port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 405 /);
    expect(text).toContain('"method_not_allowed"');
    expect(text.toLowerCase()).toContain('x-request-id:');
  });

  it('refuses a CORS preflight with 403 and never forwards it', async () => {
    const reply = await call(env.gw.url, '/api/things', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('csrf_rejected');
    expect(Object.keys(reply.headers).some((h) => h.startsWith('access-control-'))).toBe(false);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('refuses encoded separators and traversal with 400 before routing', async () => {
    for (const path of ['/api/%2e%2e/admin', '/api/..%2fadmin', '/api/a%2fb', '/api/a%5cb', '/api/a%00b', '/api/../../etc/passwd']) {
      const text = await rawRequest(env.gw.gateway.port, `GET ${path} HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n`);
      expect(text, path).toMatch(/^HTTP\/1\.1 400 /);
      expect(text).toContain('"bad_request"');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('routes on the normalised path', async () => {
    const text = await rawRequest(env.gw.gateway.port, `GET //api/./v1//items HTTP/1.1\r\nHost: localhost:8080\r\nX-CSRF: 1\r\nCookie: gatehouse=${alice}\r\nConnection: close\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(env.upstream.seen.at(-1)!.url).toBe('/v1/items');
  });

  it('never routes on X-Original-URL or X-Forwarded-* headers', async () => {
    const reply = await call(env.gw.url, '/nothing', { session: alice, headers: { 'x-original-url': '/api/things', 'x-rewrite-url': '/api/things', 'x-forwarded-prefix': '/api' } });
    expect(reply.status).toBe(404);
  });

  it('414 for a request target over 8 KB', async () => {
    const reply = await call(env.gw.url, `/api/${'a'.repeat(8200)}`, { session: alice });
    expect(reply.status).toBe(414);
    expect(reply.json().error.code).toBe('uri_too_long');
  });

  it('431 for request headers over 16 KB', async () => {
    const text = await rawRequest(env.gw.gateway.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
    expect(text).toContain('"headers_too_large"');
  });

  it('gives every response an X-Request-Id and every error a JSON body', async () => {
    for (const [path, status] of [['/healthz', 200], ['/nope', 404], ['/api/x', 401]] as const) {
      const reply = await call(env.gw.url, path, { csrf: false });
      expect(reply.status).toBe(status);
      expect(reply.headers['x-request-id']).toBeTruthy();
      expect(reply.headers['content-type']).toContain('application/json');
    }
  });
});

describe('health', () => {
  it('/healthz and /readyz answer 200 without a session', async () => {
    expect((await call(env.gw.url, '/healthz')).json()).toEqual({ status: 'ok' });
    expect((await call(env.gw.url, '/readyz')).status).toBe(200);
  });
});

describe('the static site', () => {
  it('serves files with a strict CSP and no-store', async () => {
    const reply = await call(env.gw.url, '/');
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('home page');
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(reply.headers['content-security-policy']).toContain("script-src 'self'");
    expect(reply.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(reply.headers['cache-control']).toBe('no-store');
    expect((await call(env.gw.url, '/app.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await call(env.gw.url, '/sub/')).text).toContain('sub');
  });

  it('never serves hidden files or anything outside its folder', async () => {
    expect((await call(env.gw.url, '/.env')).status).toBe(404);
    const text = await rawRequest(env.gw.gateway.port, 'GET /../pipeline.test.ts HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('never shadows /auth or the API routes', async () => {
    expect((await call(env.gw.url, '/auth/anything')).status).toBe(404);
    expect((await call(env.gw.url, '/api/index.html', { csrf: false })).status).toBe(401);
  });

  it('answers 405 to a POST for a page', async () => {
    expect((await call(env.gw.url, '/', { method: 'POST', body: {} })).status).toBe(405);
  });
});
