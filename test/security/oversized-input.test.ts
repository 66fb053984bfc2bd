import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { rawErrorCode, rawExchange, rawHead } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Oversized and malformed input: huge heads and targets (parser and memory exhaustion), bodies over
 * the limit with or without a declared length (the upstream must never receive the whole of one),
 * and bodies that are not what an /auth endpoint expects. SPEC §4.4: 431, 414, 413; every error a
 * JSON 4xx, never a 500.
 */

const maxBody = 16 * 1024;

let alice: string;

const env = useGateway({
  config: { server: { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080', maxBodySize: '16kb' } },
});
beforeAll(async () => {
  alice = await login(env.gw.url);
});

/** The upstream never received a whole body bigger than the limit. */
function expectNoOversizedBodyUpstream(): void {
  for (const seen of env.upstream.seen) expect(seen.body.length).toBeLessThanOrEqual(maxBody);
}

describe('oversized input', () => {
  it('request headers over 16 KB → 431 and the connection closed, before any routing', async () => {
    const heads = [
      rawHead('GET /api/x HTTP/1.1', { session: alice, headers: [`X-Big: ${'a'.repeat(17 * 1024)}`] }),
      rawHead('GET /api/x HTTP/1.1', { session: alice, headers: Array.from({ length: 200 }, (_, i) => `X-Many-${i}: ${'b'.repeat(90)}`) }),
      rawHead('POST /auth/login HTTP/1.1', { csrf: true, headers: [`Cookie: ${'c=1; '.repeat(4000)}`] }),
      rawHead('GET /healthz HTTP/1.1', { headers: [`X-Big: ${'a'.repeat(64 * 1024)}`] }),
    ];
    for (const head of heads) {
      const reply = await rawExchange(env.gw.gateway.port, head);
      expect(reply.statuses).toEqual([431]);
      expect(rawErrorCode(reply.text)).toBe('headers_too_large');
      expect(reply.closed).toBe(true);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a request target over 8 KB → 414, in the path or the query', async () => {
    for (const target of [`/api/${'a'.repeat(8200)}`, `/api/x?q=${'a'.repeat(8200)}`, `/api/public/${'a/'.repeat(4100)}`]) {
      const reply = await rawExchange(env.gw.gateway.port, rawHead(`GET ${target} HTTP/1.1`, { session: alice }));
      expect(reply.statuses).toEqual([414]);
      expect(rawErrorCode(reply.text)).toBe('uri_too_long');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a body over maxBodySize with a Content-Length → 413 before anything is forwarded', async () => {
    const reply = await call(env.gw.url, '/api/upload', { method: 'POST', session: alice, body: 'x'.repeat(maxBody + 1), headers: { 'content-type': 'text/plain' } });
    expect(reply.status).toBe(413);
    expect(reply.json().error.code).toBe('payload_too_large');
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a Content-Length far beyond the limit, with no body sent at all → 413 at once (nothing is waited for)', async () => {
    const reply = await rawExchange(env.gw.gateway.port, rawHead('POST /api/upload HTTP/1.1', { session: alice, headers: ['Content-Length: 99999999999', 'Content-Type: text/plain'] }), { timeoutMs: 1500 });
    expect(reply.statuses).toEqual([413]);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a chunked body without a length, sent at once, over the limit → 413, the upstream never gets all of it', async () => {
    const chunk = 'y'.repeat(4096);
    const body = `${Array.from({ length: 6 }, () => `1000\r\n${chunk}\r\n`).join('')}0\r\n\r\n`;
    const reply = await rawExchange(env.gw.gateway.port, rawHead('POST /api/upload HTTP/1.1', { session: alice, headers: ['Transfer-Encoding: chunked', 'Content-Type: text/plain'] }) + body);
    expect(reply.statuses).toEqual([413]);
    expect(rawErrorCode(reply.text)).toBe('payload_too_large');
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a chunked body streamed slowly past the limit → 413, the upstream never gets a complete oversized body', async () => {
    const head = rawHead('POST /api/upload HTTP/1.1', { session: alice, headers: ['Transfer-Encoding: chunked', 'Content-Type: text/plain'] });
    const chunks = Array.from({ length: 24 }, () => `400\r\n${'z'.repeat(1024)}\r\n`);
    const reply = await rawExchange(env.gw.gateway.port, [head, ...chunks, '0\r\n\r\n'], { gapMs: 15, timeoutMs: 3000 });
    expect(reply.statuses[0]).toBe(413);
    expect(rawErrorCode(reply.text)).toBe('payload_too_large');
    expectNoOversizedBodyUpstream();
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the limit applies on public routes and to /auth bodies too', async () => {
    const big = JSON.stringify({ username: 'alice', password: 'p'.repeat(maxBody) });
    const declared = await call(env.gw.url, '/auth/login', { method: 'POST', body: big });
    expect(declared.status).toBe(413);
    const streamed = await rawExchange(env.gw.gateway.port, [
      rawHead('POST /auth/login HTTP/1.1', { csrf: true, headers: ['Transfer-Encoding: chunked', 'Content-Type: application/json'] }),
      `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    ]);
    expect(streamed.statuses[0]).toBe(413);
    const password = await call(env.gw.url, '/auth/password', { method: 'POST', session: alice, body: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'n'.repeat(maxBody) }) });
    expect(password.status).toBe(413);
  });

  it('malformed or mistyped JSON on every /auth endpoint is a JSON 4xx, never a 500', async () => {
    const deep = `${'['.repeat(7000)}${']'.repeat(7000)}`;
    const bodies: [string, string | undefined][] = [
      ['{', 'application/json'],
      ['', 'application/json'],
      ['null', 'application/json'],
      ['[]', 'application/json'],
      ['"alice"', 'application/json'],
      ['12345', 'application/json'],
      ['{"username":["alice"],"password":"x"}', 'application/json'],
      ['{"username":"alice","password":{"$ne":""}}', 'application/json'],
      ['{"username":"alice","password":null}', 'application/json'],
      ['{"username":"alice","password":12345678901234}', 'application/json'],
      [`{"username":"${'a'.repeat(300)}","password":"x"}`, 'application/json'],
      [`{"username":"alice","password":"${'p'.repeat(5000)}"}`, 'application/json'],
      ['{"currentPassword":true,"newPassword":[]}', 'application/json'],
      ['{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},"username":"alice","password":"x"}', 'application/json'],
      ['{"username":"alice\\u0000","password":"\\ud800\\udfff\\ud800"}', 'application/json'],
      [deep, 'application/json'],
      ['\u00ff\u00fe{"username":"alice"}', 'application/json'],
      ['username=alice&password=x', 'application/x-www-form-urlencoded'],
      ['{"username":"alice","password":"x"}', 'text/plain'],
      ['{"username":"alice","password":"x"}', 'application/jsonx'],
      ['{"username":"alice","password":"x"}', undefined],
    ];
    for (const path of ['/auth/login', '/auth/password', '/auth/logout']) {
      // Logout reads no body; it is sent without a session so that alice stays logged in.
      const session = path === '/auth/password' ? alice : undefined;
      for (const [body, type] of bodies) {
        const label = `${path} ${type ?? '(no type)'} ${body.slice(0, 40)}`;
        const headers = [`Content-Length: ${Buffer.byteLength(body)}`, ...(type === undefined ? [] : [`Content-Type: ${type}`])];
        const reply = await rawExchange(env.gw.gateway.port, rawHead(`POST ${path} HTTP/1.1`, { session, csrf: true, headers }) + body);
        const status = reply.statuses[0]!;
        expect(status, label).toBeLessThan(500);
        if (path === '/auth/logout') continue;
        expect(status, label).toBeGreaterThanOrEqual(400);
        expect(rawErrorCode(reply.text), label).toMatch(/^(bad_request|unsupported_media_type|invalid_credentials|payload_too_large)$/);
      }
    }
    expect(env.gw.logs()).not.toContain('request failed');
    expect((await call(env.gw.url, '/auth/session', { session: alice })).status).toBe(200);
  });
});
