import { describe, expect, it } from 'vitest';
import { defaultRoutes } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { scrape } from '../helpers/metrics.js';

/**
 * Attack: make /metrics carry what it must not (SPEC §11: no user name, IP address or path beyond
 * the route's configured pattern in a label). A label value taken from a request would leak who
 * uses the gateway and from where to whoever reads the metrics, and would let a client create
 * series without bound (OWASP Logging Cheat Sheet). The client picks paths, methods, user names
 * and X-Forwarded-For values; none of them appears anywhere in the scrape.
 */

const user = 'mallory-metrics-4471';
const env = useGateway({
  users: [{ name: user, roles: ['user'] }],
  config: {
    server: { trustedProxies: ['127.0.0.1/32'] },
    admin: { host: '127.0.0.1', port: 0 },
    routes: defaultRoutes,
    limits: [{ name: 'per-ip', match: '/api/**', by: 'ip', max: 1, per: '1m', action: 'reject' }],
    ipRules: { deny: ['203.0.113.0/24'] },
  },
});

const paths = ['/nowhere-path-9a1c', '/api/inside-path-5e2b?q=query-value-7f3d', '/auth/unknown-auth-path-1d6e', '/api/%2e%2e/dotdot-path-8c4a', '/api/public/public-path-2b9f'];
const addresses = ['198.51.100.77', '203.0.113.99', '2001:db8::4471'];
const names = ['victim-name-3c8e', "o'brien-name-6d1f", user];

describe('no request data in any label of /metrics', () => {
  it('paths, methods, user names and forwarded addresses chosen by the client never appear in the scrape', async () => {
    const session = await login(env.gw.url, user);
    for (const address of addresses) {
      for (const path of paths) {
        await call(env.gw.url, path, { session, headers: { 'x-forwarded-for': address } });
        await call(env.gw.url, path, { method: 'PROPFIND', headers: { 'x-forwarded-for': address } });
      }
      for (const name of names) {
        await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: name, password: 'wrong' }, headers: { 'x-forwarded-for': address } });
      }
    }
    const { text, samples } = await scrape(env.gw.gateway.admin!.url);
    // The journey did reach the counted places (else the scan below proves nothing).
    expect(samples.get('gatehouse_logins_total{result="failed"}')).toBeGreaterThan(0);
    expect(samples.get('gatehouse_ip_blocks_total')).toBeGreaterThan(0);
    expect(samples.get('gatehouse_rule_actions_total{action="reject",rule="per-ip"}')).toBeGreaterThan(0);
    expect(samples.get('gatehouse_requests_total{method="other",route="none",status="4xx"}')).toBeGreaterThan(0);
    const fragments = [
      ...paths.flatMap((path) => path.split(/[/?=.%]/).filter((part) => part.length > 6)),
      ...addresses, '127.0.0.1', ...names, 'PROPFIND', session,
    ];
    for (const fragment of fragments) expect(text, fragment).not.toContain(fragment);
    // Every label value is from the configuration or a fixed set.
    const patterns = new Set(defaultRoutes.map((route) => route.path as string));
    for (const key of samples.keys()) {
      for (const [, label, value] of key.matchAll(/([a-z_]+)="([^"]*)"/g)) {
        if (label === 'route') expect(patterns.has(value!) || ['auth', 'static', 'health', 'jwks', 'none'].includes(value!), `${key}`).toBe(true);
        if (label === 'method') expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other'], key).toContain(value);
      }
    }
  });
});
