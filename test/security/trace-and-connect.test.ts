import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { rawErrorCode, rawExchange, rawHead } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * TRACE and CONNECT: TRACE reflects the request back, cookies and all, which turns any script
 * injection into a cookie theft despite HttpOnly (Cross-Site Tracing); CONNECT asks the gateway to
 * open a raw tunnel — to the upstream without the allowlist, or anywhere else. SPEC §4: TRACE is
 * refused everywhere; §4.4: TRACE and CONNECT → 405.
 */

let alice: string;

const env = useGateway({ config: { static: fileURLToPath(new URL('../fixtures/site', import.meta.url)) } });
beforeAll(async () => {
  alice = await login(env.gw.url);
});

const everywhere = ['/', '/index.html', '/api/x', '/api/public/x', '/api/download/x', '/api/admin/x', '/auth/login', '/auth/logout', '/auth/session', '/auth/password', '/healthz', '/readyz', '/nowhere'];

describe('TRACE and CONNECT', () => {
  it('TRACE → 405 on every kind of path, with a session, and nothing is reflected or forwarded', async () => {
    for (const path of everywhere) {
      const reply = await call(env.gw.url, path, { method: 'TRACE', session: alice, headers: { 'max-forwards': '0', 'x-marker': 'reflect-me' } });
      expect(reply.status, path).toBe(405);
      expect(reply.json().error.code, path).toBe('method_not_allowed');
      expect(reply.text, path).not.toContain(alice);
      expect(reply.text, path).not.toContain('reflect-me');
      expect(reply.headers['content-type'], path).toContain('application/json');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('TRACE with the asterisk and absolute-form targets → 405, not forwarded', async () => {
    for (const target of ['*', `http://127.0.0.1:${env.upstream.port}/`, 'http://localhost:8080/api/x']) {
      const reply = await rawExchange(env.gw.gateway.port, rawHead(`TRACE ${target} HTTP/1.1`, { session: alice }));
      expect(reply.statuses, target).toEqual([405]);
      expect(reply.text).not.toContain(alice);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('CONNECT → 405, the connection is closed, and no tunnel opens to the upstream or anywhere else', async () => {
    for (const authority of [`127.0.0.1:${env.upstream.port}`, `localhost:${env.gw.gateway.port}`, 'example.com:443', '127.0.0.1:22']) {
      // A second request written right behind the CONNECT would reach the upstream through a tunnel.
      const reply = await rawExchange(env.gw.gateway.port, [
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nCookie: gatehouse=${alice}\r\nX-CSRF: 1\r\n\r\n`,
        'GET /through-the-tunnel HTTP/1.1\r\nHost: x\r\n\r\n',
      ], { gapMs: 50 });
      expect(reply.statuses, authority).toEqual([405]);
      expect(rawErrorCode(reply.text)).toBe('method_not_allowed');
      expect(reply.closed, authority).toBe(true);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('CONNECT with an origin-form target is refused too', async () => {
    const reply = await rawExchange(env.gw.gateway.port, rawHead('CONNECT /api/x HTTP/1.1', { session: alice }));
    expect([400, 405]).toContain(reply.statuses[0]);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('look-alike methods (trace, TRACK, Trace) are not let through either', async () => {
    for (const method of ['trace', 'Trace', 'TRACK', 'connect']) {
      const reply = await rawExchange(env.gw.gateway.port, rawHead(`${method} /api/x HTTP/1.1`, { session: alice }));
      expect(reply.statuses[0], method).toBeGreaterThanOrEqual(400);
      expect(reply.statuses[0], method).toBeLessThan(500);
      expect(reply.text).not.toContain(alice);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('method-override headers cannot turn an allowed GET into TRACE or CONNECT upstream', async () => {
    const overrides = { 'x-http-method-override': 'TRACE', 'x-http-method': 'CONNECT', 'x-method-override': 'TRACE' };
    const reply = await call(env.gw.url, '/api/x', { session: alice, headers: overrides });
    expect(reply.status).toBe(200);
    expect(env.upstream.seen).toHaveLength(1);
    const seen = env.upstream.seen[0]!;
    expect(seen.method).toBe('GET');
    for (const name of Object.keys(overrides)) expect(seen.headers[name], name).toBeUndefined();
  });
});
