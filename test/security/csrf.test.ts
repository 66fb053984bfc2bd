import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { waitForAudit } from '../helpers/attack.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

type CsrfReason = 'missing_header' | 'foreign_origin' | 'cross_site';

/**
 * Cross-site request forgery: a page on another site makes the victim's browser send a
 * state-changing request to Gatehouse with the victim's cookie. SPEC §4.3: `X-CSRF: 1` is required
 * (a custom header cannot be sent cross-site without a preflight, and preflights are refused), and
 * Origin / Sec-Fetch-Site, when present, must say same-origin. SPEC §6: each refusal is audited
 * once per address, reason and minute (test/security/csrf-audit-flood.test.ts floods it), so every
 * test starts a minute later and expects its own event for each reason it provokes.
 */

const origin = 'http://localhost:8080';

let upstream: TestUpstream;
let gw: TestGateway;
let alice: string;
/** Every reply in this file, to check that none ever grants CORS. */
const replies: Reply[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      routes: [
        { path: '/api/download/**', methods: ['GET'], upstream: 'api', csrf: false },
        { path: '/api/options/**', methods: ['GET', 'OPTIONS'], upstream: 'api', public: true },
        { path: '/api/**', methods: ['GET', 'POST', 'PUT', 'DELETE'], upstream: 'api', stripPrefix: '/api' },
      ],
    },
  });
  // The upstream would grant anything: the gateway must not relay it.
  upstream.handle((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'access-control-allow-origin': 'https://evil.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers': 'x-csrf',
    });
    res.end('{"ok":true}');
  });
  alice = await login(gw.url);
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});
/** When the current test started, on the gateway's clock. */
let since = 0;
beforeEach(() => {
  gw.clock.advance(61_000);
  since = gw.clock.now();
});
afterEach(() => {
  upstream.seen.length = 0;
});

async function send(path: string, options: Parameters<typeof call>[2]): Promise<Reply> {
  const reply = await call(gw.url, path, options);
  replies.push(reply);
  return reply;
}

/** The forgeries: each is one way a request can fail the checks, and the reason it is audited with. */
const forgeries: Record<string, { csrf: boolean; headers: Record<string, string | string[]>; reason: CsrfReason }> = {
  'no X-CSRF': { csrf: false, headers: {}, reason: 'missing_header' },
  'X-CSRF: 0': { csrf: false, headers: { 'x-csrf': '0' }, reason: 'missing_header' },
  'X-CSRF: true': { csrf: false, headers: { 'x-csrf': 'true' }, reason: 'missing_header' },
  'X-CSRF empty': { csrf: false, headers: { 'x-csrf': '' }, reason: 'missing_header' },
  'X-CSRF: 11': { csrf: false, headers: { 'x-csrf': '11' }, reason: 'missing_header' },
  'x-csrf sent twice': { csrf: false, headers: { 'x-csrf': ['1', '1'] }, reason: 'missing_header' },
  'X-CSRF-Token instead of X-CSRF': { csrf: false, headers: { 'x-csrf-token': '1' }, reason: 'missing_header' },
  'foreign Origin': { csrf: true, headers: { origin: 'https://evil.example' }, reason: 'foreign_origin' },
  'Origin: null (sandboxed iframe, data: URL)': { csrf: true, headers: { origin: 'null' }, reason: 'foreign_origin' },
  'Origin with a suffix': { csrf: true, headers: { origin: `${origin}.evil.example` }, reason: 'foreign_origin' },
  'Origin on another port': { csrf: true, headers: { origin: 'http://localhost:8081' }, reason: 'foreign_origin' },
  'Origin over another scheme': { csrf: true, headers: { origin: 'https://localhost:8080' }, reason: 'foreign_origin' },
  'Origin with a trailing slash': { csrf: true, headers: { origin: `${origin}/` }, reason: 'foreign_origin' },
  'two Origin headers, ours first': { csrf: true, headers: { origin: [origin, 'https://evil.example'] }, reason: 'foreign_origin' },
  'Sec-Fetch-Site: cross-site': { csrf: true, headers: { 'sec-fetch-site': 'cross-site' }, reason: 'cross_site' },
  'Sec-Fetch-Site: same-site (a sibling subdomain)': { csrf: true, headers: { 'sec-fetch-site': 'same-site' }, reason: 'cross_site' },
  'Sec-Fetch-Site: cross-site with our Origin': { csrf: true, headers: { origin, 'sec-fetch-site': 'cross-site' }, reason: 'cross_site' },
};

/** Refused with csrf_rejected, and this address audited for the reason since the test started. */
async function expectRejected(reply: Reply, label: string, reason: CsrfReason = 'missing_header'): Promise<void> {
  expect(reply.status, label).toBe(403);
  expect(reply.json(), label).toEqual({ error: { code: 'csrf_rejected', message: 'The request was refused by the cross-site request forgery check.' } });
  await waitForAudit(gw, 'csrf_rejected', (e) => e.ip === '127.0.0.1' && e.detail.reason === reason && e.time >= since);
}

describe('cross-site request forgery', () => {
  it('the same requests with the right headers go through (so the refusals below are about CSRF)', async () => {
    const reply = await send('/api/notes', { method: 'POST', session: alice, body: {}, headers: { origin, 'sec-fetch-site': 'same-origin' } });
    expect(reply.status).toBe(200);
    expect(upstream.seen).toHaveLength(1);
  });

  it('a forged proxied POST is refused, audited and never forwarded', async () => {
    for (const [label, forgery] of Object.entries(forgeries)) {
      const reply = await send('/api/notes', { method: 'POST', session: alice, body: { note: 'forged' }, csrf: forgery.csrf, headers: forgery.headers });
      await expectRejected(reply, label, forgery.reason);
    }
    expect(upstream.seen).toHaveLength(0);
  });

  it('a forged proxied GET is refused too (proxied routes check every method)', async () => {
    for (const [label, forgery] of Object.entries(forgeries)) {
      await expectRejected(await send('/api/account', { session: alice, csrf: forgery.csrf, headers: forgery.headers }), label, forgery.reason);
    }
    expect(upstream.seen).toHaveLength(0);
  });

  it('an audit event names the user, the address and the reason', async () => {
    const reply = await send('/api/notes', { method: 'DELETE', session: alice, csrf: false, headers: { origin: 'https://evil.example' } });
    expect(reply.status).toBe(403);
    const event = await waitForAudit(gw, 'csrf_rejected', (e) => e.requestId === reply.headers['x-request-id']);
    expect(event).toMatchObject({ user: 'alice', ip: '127.0.0.1', detail: { reason: 'missing_header' } });
  });

  it('a forged login is refused (login CSRF: logging the victim into the attacker\'s account)', async () => {
    for (const [label, forgery] of Object.entries(forgeries)) {
      const reply = await send('/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD }, csrf: forgery.csrf, headers: forgery.headers });
      await expectRejected(reply, label, forgery.reason);
      expect(reply.cookie, label).toBeUndefined();
    }
  });

  it('a forged logout is refused and the session survives', async () => {
    for (const [label, forgery] of Object.entries(forgeries)) {
      const reply = await send('/auth/logout', { method: 'POST', session: alice, csrf: forgery.csrf, headers: forgery.headers });
      await expectRejected(reply, label, forgery.reason);
      expect(reply.cookie, label).toBeUndefined();
    }
    expect((await send('/auth/session', { session: alice })).status).toBe(200);
  });

  it('a forged password change is refused and the password stays', async () => {
    for (const [label, forgery] of Object.entries(forgeries)) {
      const reply = await send('/auth/password', { method: 'POST', session: alice, body: { currentPassword: PASSWORD, newPassword: 'attacker chosen password' }, csrf: forgery.csrf, headers: forgery.headers });
      await expectRejected(reply, label, forgery.reason);
    }
    expect((await send('/auth/session', { session: alice })).status).toBe(200);
    expect((await send('/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } })).status).toBe(200);
  });

  it('a classic cross-site HTML form POST (form-encoded, text/plain, multipart) is refused everywhere', async () => {
    const form = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' };
    const bodies: [string, string][] = [
      ['note=forged&amount=1000', 'application/x-www-form-urlencoded'],
      [`{"username":"mallory","password":"${PASSWORD}"}`, 'text/plain'],
      ['--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n', 'multipart/form-data; boundary=x'],
    ];
    for (const [body, type] of bodies) {
      for (const path of ['/api/transfer', '/auth/login', '/auth/logout', '/auth/password']) {
        const reply = await send(path, { method: 'POST', session: alice, csrf: false, body, headers: { ...form, 'content-type': type } });
        await expectRejected(reply, `${type} to ${path}`);
      }
      // Even without Origin/Sec-Fetch-Site (an old browser), the missing X-CSRF alone refuses it.
      const bare = await send('/api/transfer', { method: 'POST', session: alice, csrf: false, body, headers: { 'content-type': type } });
      await expectRejected(bare, `${type} without fetch metadata`);
    }
    expect(upstream.seen).toHaveLength(0);
  });

  it('a CORS preflight is answered 403 and never forwarded, wherever it is sent', async () => {
    for (const path of ['/api/notes', '/api/options/x', '/api/download/x', '/auth/login', '/auth/logout', '/auth/password', '/healthz', '/nowhere']) {
      const reply = await send(path, {
        method: 'OPTIONS',
        session: alice,
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-csrf, content-type' },
      });
      expect(reply.status, path).toBe(403);
      expect(reply.json().error.code, path).toBe('csrf_rejected');
    }
    expect(upstream.seen).toHaveLength(0);
    await waitForAudit(gw, 'csrf_rejected', (e) => e.ip === '127.0.0.1' && e.detail.reason === 'preflight' && e.time >= since);
  });

  it('no response ever carries an Access-Control-Allow-* header (checked over every reply above and these)', async () => {
    await send('/api/options/x', { headers: { origin: 'https://evil.example' } });
    await send('/api/download/x', { session: alice, headers: { origin: 'https://evil.example' } });
    await send('/api/notes', { session: alice, headers: { origin } });
    await send('/auth/session', { session: alice, headers: { origin: 'https://evil.example' } });
    expect(upstream.seen.length, 'the upstream did answer with CORS headers').toBeGreaterThan(0);
    expect(replies.length).toBeGreaterThan(50);
    for (const reply of replies) {
      const cors = Object.keys(reply.headers).filter((name) => name.toLowerCase().startsWith('access-control-'));
      expect(cors).toEqual([]);
    }
  });
});
