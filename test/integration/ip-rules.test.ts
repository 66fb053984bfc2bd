import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, fromAddress, login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

let upstream: TestUpstream;
let gw: TestGateway;
let proxied: TestGateway;

const allowed = fromAddress('127.0.0.2');
const denied = fromAddress('127.0.0.3');
const outside = fromAddress('127.0.1.1');
const proxy = fromAddress('127.0.0.20');

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({
    upstreamUrl: upstream.url,
    config: { ipRules: { allow: ['127.0.0.0/24', '::1/128'], deny: ['127.0.0.3'] } },
  });
  proxied = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      server: { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080', trustedProxies: ['127.0.0.16/28'] },
      ipRules: { deny: ['203.0.113.0/24'] },
      limits: [{ name: 'per-ip', match: '/api/**', by: 'ip', max: 2, per: '1m', action: 'reject' }],
    },
  });
});
afterAll(async () => {
  await gw.close();
  await proxied.close();
  await upstream.close();
});
afterEach(() => {
  upstream.seen.length = 0;
});

describe('ipRules', () => {
  it('admits an address inside allow and outside deny', async () => {
    const cookie = await login(gw.url, 'alice', undefined, allowed);
    expect((await call(gw.url, '/api/x', { session: cookie, dispatcher: allowed })).status).toBe(200);
  });

  it('refuses a denied address before anything else, even /healthz, and the upstream never sees it', async () => {
    for (const path of ['/healthz', '/api/x', '/auth/login', '/nothing']) {
      const reply = await call(gw.url, path, { dispatcher: denied });
      expect(reply.status, path).toBe(403);
      expect(reply.json().error.code).toBe('ip_blocked');
    }
    const trace = await call(gw.url, '/api/x', { method: 'TRACE', dispatcher: denied });
    expect(trace.json().error.code).toBe('ip_blocked');
    expect(upstream.seen).toHaveLength(0);
  });

  it('refuses an address outside a non-empty allow list', async () => {
    const reply = await call(gw.url, '/healthz', { dispatcher: outside });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('ip_blocked');
  });

  it('audits a refused address once per minute, not per request', async () => {
    const client = fromAddress('127.0.0.3');
    for (let i = 0; i < 5; i += 1) await call(gw.url, '/healthz', { dispatcher: client });
    await new Promise((r) => setTimeout(r, 50));
    const before = (await gw.gateway.services.store.audit.recent(100)).filter((e) => e.type === 'ip_blocked' && e.ip === '127.0.0.3').length;
    expect(before).toBe(1);
    // A minute and one bucket of it (1 s): the marker counts in buckets of 1/60 of its window.
    gw.clock.advance(61_000);
    await call(gw.url, '/healthz', { dispatcher: client });
    await new Promise((r) => setTimeout(r, 50));
    expect((await gw.gateway.services.store.audit.recent(100)).filter((e) => e.type === 'ip_blocked' && e.ip === '127.0.0.3')).toHaveLength(2);
  });
});

describe('trustedProxies and X-Forwarded-For', () => {
  it('an untrusted client cannot change its address with any header', async () => {
    const client = fromAddress('127.0.0.5');
    const cookie = await login(proxied.url, 'alice', undefined, client);
    const spoof = { 'x-forwarded-for': '198.51.100.7', 'x-real-ip': '198.51.100.7', forwarded: 'for=198.51.100.7', 'true-client-ip': '198.51.100.7' };
    expect((await call(proxied.url, '/api/a', { session: cookie, dispatcher: client, headers: spoof })).status).toBe(200);
    expect((await call(proxied.url, '/api/a', { session: cookie, dispatcher: client, headers: { 'x-forwarded-for': '198.51.100.8' } })).status).toBe(200);
    // Same socket address, so the same rate-rule key, whatever it claimed.
    expect((await call(proxied.url, '/api/a', { session: cookie, dispatcher: client, headers: { 'x-forwarded-for': '198.51.100.9' } })).status).toBe(429);
    expect(upstream.seen.map((s) => s.headers['x-forwarded-for'])).toEqual(['127.0.0.5', '127.0.0.5']);
  });

  it('behind a trusted proxy the right-most untrusted X-Forwarded-For entry is the client', async () => {
    const cookie = await login(proxied.url, 'alice', undefined, proxy);
    const as = (xff: string) => call(proxied.url, '/api/b', { session: cookie, dispatcher: proxy, headers: { 'x-forwarded-for': xff } });
    expect((await as('6.6.6.6, 198.51.100.20')).status).toBe(200);
    expect((await as('198.51.100.20, 127.0.0.17')).status).toBe(200);
    expect((await as('1.1.1.1, 198.51.100.20')).status).toBe(429);
    expect((await as('198.51.100.21')).status).toBe(200);
    expect(upstream.seen.map((s) => s.headers['x-forwarded-for'])).toEqual(['198.51.100.20', '198.51.100.20', '198.51.100.21']);
  });

  it('applies ipRules to the derived address', async () => {
    const reply = await call(proxied.url, '/healthz', { dispatcher: proxy, headers: { 'x-forwarded-for': '203.0.113.50' } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('ip_blocked');
  });
});
