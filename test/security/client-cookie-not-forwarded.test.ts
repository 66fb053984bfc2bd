import { beforeAll, describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { rawExchange, rawHead } from '../helpers/attack.js';
import type { SeenRequest } from '../helpers/upstream.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * The browser's cookies reaching the upstream: the session id is a bearer credential for the whole
 * gateway, so an upstream that logs or reflects request headers (or is compromised) would hold every
 * user's session. SPEC §4.4: `Cookie` is never forwarded — not the session cookie, not any other.
 */

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

function only(): SeenRequest {
  expect(env.upstream.seen).toHaveLength(1);
  return env.upstream.seen[0]!;
}

function expectNoCookie(seen: SeenRequest): void {
  expect(seen.headers.cookie).toBeUndefined();
  expect(seen.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())).not.toContain('cookie');
  // Not under any other name, nor in the URL or body either.
  expect(JSON.stringify(seen)).not.toContain(alice);
  expect(seen.body.toString('latin1')).not.toContain(alice);
}

describe('client cookies are not forwarded', () => {
  it('the session cookie of a forwarded request never reaches the upstream', async () => {
    const reply = await call(env.gw.url, '/api/x', { session: alice });
    expect(reply.status).toBe(200);
    expectNoCookie(only());
  });

  it('other cookies sent with it are not forwarded either', async () => {
    await call(env.gw.url, '/api/x', { headers: { cookie: `theme=dark; gatehouse=${alice}; tracking=abc; upstream_session=s3cr3t` } });
    const seen = only();
    expectNoCookie(seen);
    expect(JSON.stringify(seen)).not.toContain('upstream_session');
  });

  it('several Cookie header lines on the wire: none is forwarded', async () => {
    const reply = await rawExchange(env.gw.gateway.port, rawHead('POST /api/x HTTP/1.1', {
      headers: [`Cookie: gatehouse=${alice}`, 'X-CSRF: 1', 'Cookie: a=1', 'cookie: b=2', 'COOKIE: c=3', 'Content-Length: 2', 'Content-Type: application/json'],
    }) + '{}');
    expect(reply.statuses).toEqual([200]);
    const seen = only();
    expectNoCookie(seen);
    expect(seen.body.toString()).toBe('{}');
  });

  it('on a public route, where no session is needed, a sent session cookie is still not forwarded', async () => {
    await call(env.gw.url, '/api/public/x', { session: alice });
    expectNoCookie(only());
  });

  it('on a csrf: false route (plain links, downloads) the cookie is not forwarded', async () => {
    await call(env.gw.url, '/api/download/report.csv', { session: alice, csrf: false });
    expectNoCookie(only());
  });

  it('naming Cookie in Connection does not make the gateway forward it, nor lose the session', async () => {
    const reply = await call(env.gw.url, '/api/x', { session: alice, headers: { connection: 'cookie' } });
    expect(reply.status).toBe(200);
    expectNoCookie(only());
  });
});
