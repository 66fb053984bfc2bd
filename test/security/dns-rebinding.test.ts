import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { auditEvents, rawErrorCode, statusCodes } from '../helpers/attack.js';
import { call, login, rawRequest, type Reply } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * DNS rebinding: the victim opens http://rebind.attacker.example:PORT; once the page has loaded,
 * the attacker re-points that name at the gateway's address (here 127.0.0.1, where the gateway
 * listens). The browser still believes it talks to rebind.attacker.example, so the attacker's
 * script may read every answer: the website, public routes, and a login it performs with
 * credentials it guesses or phished. What the attacker cannot change is the name the browser
 * sends in Host. SPEC §4.4: a Host that is neither server.publicOrigin's host nor in
 * server.allowedHosts gets 421 misdirected_request, except on /healthz and /readyz.
 *
 * The helpers' gateway has publicOrigin http://localhost:8080 and allowedHosts [127.0.0.1] (its
 * tests reach it by address); the second gateway below admits only what its config names.
 */

const site = fileURLToPath(new URL('../fixtures/site', import.meta.url));

let upstream: TestUpstream;
let gw: TestGateway;
let strict: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ upstreamUrl: upstream.url, config: { static: site } });
  strict = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      server: { publicOrigin: 'https://gatehouse.example', allowedHosts: ['gatehouse.internal:8443', 'Status.Internal'] },
      static: site,
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await strict?.close();
  await upstream?.close();
});

/** A request to the gateway's real address (the "right IP") with this Host. */
function as(target: TestGateway, host: string, path: string, options: Parameters<typeof call>[2] = {}): Promise<Reply> {
  return call(target.url, path, { ...options, headers: { ...options.headers, host } });
}

function expectMisdirected(reply: Reply, label: string): void {
  expect(reply.status, label).toBe(421);
  expect(reply.json(), label).toEqual({ error: { code: 'misdirected_request', message: 'This server does not answer for that host name.' } });
  expect(reply.headers['x-request-id'], label).toBeTruthy();
  expect(reply.setCookie, label).toEqual([]);
}

describe('DNS rebinding', () => {
  const attacker = () => `rebind.attacker.example:${gw.gateway.port}`;

  it('the static site, a public route and /auth/login answer the configured host (the control)', async () => {
    const home = await as(gw, 'localhost:8080', '/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('home page');
    expect((await as(gw, 'localhost:8080', '/api/public/x')).status).toBe(200);
    const signIn = await as(gw, 'localhost:8080', '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } });
    expect(signIn.status).toBe(200);
    expect(signIn.cookie).toBeTruthy();
    upstream.seen.length = 0;
  });

  it('a rebound name gets 421 from the static site, a public route and /auth/login, and reaches nothing', async () => {
    const before = (await auditEvents(gw, 'login_succeeded')).length;
    const home = await as(gw, attacker(), '/');
    expectMisdirected(home, 'static site');
    expect(home.text).not.toContain('home page');
    expectMisdirected(await as(gw, attacker(), '/index.html'), 'static file');
    expectMisdirected(await as(gw, attacker(), '/api/public/x'), 'public route');
    expectMisdirected(await as(gw, attacker(), '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } }), 'login');
    expectMisdirected(await as(gw, attacker(), '/auth/session'), 'session');
    // Were the browser to hold a session cookie for the name, it would not help either.
    expectMisdirected(await as(gw, attacker(), '/api/x', { session: await login(gw.url) }), 'session route');
    expect(upstream.seen.filter((r) => r.url === '/x')).toHaveLength(0);
    expect((await auditEvents(gw, 'login_succeeded')).length).toBe(before + 1);
  });

  it('so does the attacker name without a port, in capitals, or with a trailing dot', async () => {
    for (const host of ['rebind.attacker.example', 'REBIND.ATTACKER.EXAMPLE:8080', 'localhost.:8080', 'localhost.attacker.example:8080']) {
      expectMisdirected(await as(gw, host, '/'), host);
    }
  });

  it("publicOrigin's host on another port is another origin: 421", async () => {
    expectMisdirected(await as(gw, 'localhost:9999', '/'), 'localhost:9999');
    expectMisdirected(await as(gw, 'localhost', '/'), 'localhost (port 80)');
    expect((await as(gw, 'LocalHost:8080', '/')).status).toBe(200);
  });

  it('the health probes answer whatever the name', async () => {
    expect((await as(gw, attacker(), '/healthz')).json()).toEqual({ status: 'ok' });
    expect((await as(gw, attacker(), '/readyz')).status).toBe(200);
    expect((await as(gw, attacker(), '/healthz?probe=1')).status).toBe(200);
    // Only the probes: a path that merely starts like one is not exempt.
    expectMisdirected(await as(gw, attacker(), '/healthz/x'), '/healthz/x');
  });

  it('a request without Host (HTTP/1.0) names no host of ours: 421, but the probes answer', async () => {
    const page = await rawRequest(gw.gateway.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(statusCodes(page)).toEqual([421]);
    expect(rawErrorCode(page)).toBe('misdirected_request');
    expect(statusCodes(await rawRequest(gw.gateway.port, 'GET /healthz HTTP/1.0\r\n\r\n'))).toEqual([200]);
    // HTTP/1.1 requires Host: Node's parser answers 400 before any stage runs.
    expect(statusCodes(await rawRequest(gw.gateway.port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n'))).toEqual([400]);
  });

  it('two Host lines are refused with 400 (RFC 9112 §3.2), whichever comes first', async () => {
    for (const [first, second] of [['localhost:8080', 'rebind.attacker.example'], ['rebind.attacker.example', 'localhost:8080'], ['localhost:8080', 'localhost:8080']]) {
      const text = await rawRequest(gw.gateway.port, `GET / HTTP/1.1\r\nHost: ${first}\r\nHost: ${second}\r\nConnection: close\r\n\r\n`);
      expect(statusCodes(text), `${first} + ${second}`).toEqual([400]);
      expect(rawErrorCode(text)).toBe('bad_request');
    }
  });

  it('an absolute-form target does not stand in for Host', async () => {
    // RFC 9112 §3.2.2 would have the target's authority replace Host; Gatehouse takes origin-form
    // only, so a foreign Host is refused first and our own gets the 400 for the target's form.
    const foreign = await rawRequest(gw.gateway.port, `GET http://localhost:8080/ HTTP/1.1\r\nHost: ${attacker()}\r\nConnection: close\r\n\r\n`);
    expect(statusCodes(foreign)).toEqual([421]);
    const ours = await rawRequest(gw.gateway.port, `GET http://localhost:8080/ HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n`);
    expect(statusCodes(ours)).toEqual([400]);
  });
});

describe('server.allowedHosts', () => {
  it('an https publicOrigin without port admits its host with and without :443, nothing else', async () => {
    expect((await as(strict, 'gatehouse.example', '/')).status).toBe(200);
    expect((await as(strict, 'gatehouse.example:443', '/api/public/x')).status).toBe(200);
    expectMisdirected(await as(strict, 'gatehouse.example:80', '/'), 'gatehouse.example:80');
    expectMisdirected(await as(strict, 'gatehouse.example:8443', '/'), 'gatehouse.example:8443');
  });

  it('"name:port" admits that port only, "name" any port, in any case', async () => {
    expect((await as(strict, 'gatehouse.internal:8443', '/')).status).toBe(200);
    expectMisdirected(await as(strict, 'gatehouse.internal', '/'), 'gatehouse.internal');
    expectMisdirected(await as(strict, 'gatehouse.internal:9443', '/'), 'gatehouse.internal:9443');
    expect((await as(strict, 'status.internal:1234', '/')).status).toBe(200);
    expect((await as(strict, 'STATUS.internal', '/')).status).toBe(200);
  });

  it('without it in allowedHosts, even the listening address is refused', async () => {
    const reply = await call(strict.url, '/');
    expect(new URL(strict.url).hostname).toBe('127.0.0.1');
    expectMisdirected(reply, 'by address');
    expect((await call(strict.url, '/healthz')).status).toBe(200);
  });
});
