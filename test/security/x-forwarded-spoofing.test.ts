import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { auditEvents } from '../helpers/attack.js';
import type { SeenRequest } from '../helpers/upstream.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Forwarding-header spoofing: a client writes X-Forwarded-For / -Host / -Proto, Forwarded,
 * X-Real-IP and friends itself, so that the upstream (or Gatehouse's own IP rules and audit trail)
 * believes a different client address, host or scheme — or sends X-Original-URL / X-Rewrite-URL so
 * that an upstream framework serves another path than the one the allowlist approved. SPEC §4.4 /
 * §5: without trusted proxies the socket address is the client, the upstream sees Gatehouse's own
 * values only, and routing never reads these headers.
 */

const spoofed = {
  'x-forwarded-for': '203.0.113.7, 10.0.0.1',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  'x-forwarded-port': '443',
  'x-forwarded-prefix': '/admin',
  'x-forwarded-server': 'evil.example',
  'x-forwarded-ssl': 'on',
  forwarded: 'for=203.0.113.7;host=evil.example;proto=https',
  'x-real-ip': '203.0.113.7',
  'x-client-ip': '203.0.113.7',
  'true-client-ip': '203.0.113.7',
  'cf-connecting-ip': '203.0.113.7',
  'fastly-client-ip': '203.0.113.7',
  'x-cluster-client-ip': '203.0.113.7',
  'x-original-url': '/admin/delete-everything',
  'x-rewrite-url': '/admin/delete-everything',
};

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

function only(): SeenRequest {
  expect(env.upstream.seen).toHaveLength(1);
  return env.upstream.seen[0]!;
}

/** What the upstream must see for a request from this test process, whatever the client claimed. */
function expectGatewayValues(seen: SeenRequest): void {
  expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  expect(seen.headers['x-forwarded-host']).toBe('localhost:8080');
  expect(seen.headers['x-forwarded-proto']).toBe('http');
  expect(seen.headers.host).toBe(`127.0.0.1:${env.upstream.port}`);
  for (const name of ['x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server', 'x-forwarded-ssl', 'forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip', 'x-original-url', 'x-rewrite-url']) {
    expect(seen.headers[name], name).toBeUndefined();
  }
  expect(JSON.stringify(seen.rawHeaders)).not.toMatch(/203\.0\.113\.7|evil\.example|delete-everything/);
}

describe('X-Forwarded-* spoofing', () => {
  it('on a session route the upstream sees only the gateway\'s own forwarding values', async () => {
    const reply = await call(env.gw.url, '/api/x', { session: alice, headers: spoofed });
    expect(reply.status).toBe(200);
    const seen = only();
    expectGatewayValues(seen);
    expect(seen.url).toBe('/x');
  });

  it('a spoofed Host is not forwarded: it is refused with 421 (SPEC §4.4; test/security/dns-rebinding.test.ts)', async () => {
    const reply = await call(env.gw.url, '/api/x', { session: alice, headers: { ...spoofed, host: 'evil.example' } });
    expect(reply.status).toBe(421);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('on a public route, where anyone can send them, too', async () => {
    await call(env.gw.url, '/api/public/x', { headers: spoofed });
    expectGatewayValues(only());
  });

  it('spelled in other cases and repeated on several lines, too', async () => {
    await call(env.gw.url, '/api/x', {
      session: alice,
      headers: { 'X-FORWARDED-FOR': ['203.0.113.7', '203.0.113.8'], 'X-Forwarded-Host': 'evil.example', 'x-forwarded-PROTO': 'https', FORWARDED: 'for=203.0.113.7', 'X-Real-Ip': '203.0.113.7' },
    });
    expectGatewayValues(only());
  });

  it('routing ignores X-Original-URL and X-Rewrite-URL', async () => {
    // An unrouted path stays unrouted…
    const unrouted = await call(env.gw.url, '/not-routed', { session: alice, headers: { 'x-original-url': '/api/x', 'x-rewrite-url': '/api/x' } });
    expect(unrouted.status).toBe(404);
    // …an admin-only path stays admin-only…
    const admin = await call(env.gw.url, '/api/admin/x', { session: alice, headers: { 'x-original-url': '/api/public/x', 'x-rewrite-url': '/api/public/x' } });
    expect(admin.status).toBe(403);
    // …a session route still needs a session…
    const anonymous = await call(env.gw.url, '/api/x', { headers: { 'x-original-url': '/api/public/x' } });
    expect(anonymous.status).toBe(401);
    expect(env.upstream.seen).toHaveLength(0);
    // …and a forwarded request goes to its own path, without the header an upstream framework would honour.
    await call(env.gw.url, '/api/public/status', { headers: { 'x-original-url': '/admin/delete-everything', 'x-rewrite-url': '/admin/delete-everything' } });
    expect(only().url).toBe('/status');
    expectGatewayValues(env.upstream.seen[0]!);
  });

  it('the audit trail records the socket address, not the claimed one', async () => {
    await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: 'not the right password' }, headers: spoofed });
    const [failed] = await auditEvents(env.gw, 'login_failed');
    expect(failed!.ip).toBe('127.0.0.1');
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD }, headers: spoofed });
    expect(reply.status).toBe(200);
    const [succeeded] = await auditEvents(env.gw, 'login_succeeded');
    expect(succeeded!.ip).toBe('127.0.0.1');
    const sessions = await env.gw.gateway.services.sessions.list({ userName: 'alice' });
    expect(sessions.map((s) => s.ip)).toEqual(sessions.map(() => '127.0.0.1'));
  });

  it('ipRules cannot be bypassed by claiming an allowed address (no trusted proxies)', async () => {
    const guarded = await startGateway({
      upstreamUrl: env.upstream.url,
      config: { ipRules: { allow: ['10.0.0.0/8'], deny: [] } },
    });
    try {
      const claims: Record<string, string>[] = [{ 'x-forwarded-for': '10.0.0.1' }, { 'x-real-ip': '10.0.0.1' }, { forwarded: 'for=10.0.0.1' }, { 'x-forwarded-for': '127.0.0.1, 10.0.0.1' }];
      for (const headers of claims) {
        const reply = await call(guarded.url, '/api/public/x', { headers });
        expect(reply.status, JSON.stringify(headers)).toBe(403);
        expect(reply.json().error.code).toBe('ip_blocked');
      }
    } finally {
      await guarded.close();
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a deny rule cannot be escaped by claiming another address, even with trusted proxies configured elsewhere', async () => {
    const guarded = await startGateway({
      upstreamUrl: env.upstream.url,
      config: {
        server: { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080', trustedProxies: ['10.0.0.0/8'] },
        ipRules: { allow: [], deny: ['127.0.0.1/32'] },
      },
    });
    try {
      for (const xff of ['192.0.2.1', '10.0.0.1', '192.0.2.1, 10.0.0.1']) {
        const reply = await call(guarded.url, '/healthz', { headers: { 'x-forwarded-for': xff } });
        expect(reply.status, xff).toBe(403);
      }
    } finally {
      await guarded.close();
    }
  });
});
