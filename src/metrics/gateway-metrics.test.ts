import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { parseSamples } from '../../test/helpers/metrics.js';
import { GatewayMetrics } from './gateway-metrics.js';

const config = parseConfig({
  admin: {},
  upstreams: [{ name: 'api', url: 'http://127.0.0.1:9000', credential: { type: 'bearer', secret: 'tok' } }],
  routes: [{ path: '/api/**', upstream: 'api' }],
}, '/x');

async function samples(metrics: GatewayMetrics): Promise<Map<string, number>> {
  return parseSamples(await metrics.registry.metrics());
}

describe('GatewayMetrics: label values from fixed sets and the configuration only', () => {
  it('maps audit events to logins, rule actions and leaks, and refusals to their counters', async () => {
    const metrics = new GatewayMetrics(config);
    metrics.audited('login_succeeded', {});
    metrics.audited('login_failed', {});
    metrics.audited('login_throttled', { scope: 'account' });
    metrics.audited('mfa_verified', { method: 'totp' });
    metrics.audited('mfa_failed', { attempt: 1 });
    metrics.audited('rate_limit_triggered', { rule: 'per-ip', action: 'block', key: '198.51.100.7' });
    metrics.audited('secret_leak_blocked', { upstream: 'api', where: 'headers' });
    metrics.audited('secret_leak_blocked', { upstream: 'api', where: 'somewhere-new' });
    metrics.audited('user_created', {});
    for (const code of ['csrf_rejected', 'ip_blocked', 'too_many_attempts', 'not_found']) metrics.refused(code);
    const got = await samples(metrics);
    expect(Object.fromEntries([...got].filter(([key]) => /logins|rule_actions|leaks|csrf|ip_blocks/.test(key)))).toEqual({
      'gatehouse_logins_total{result="ok"}': 1,
      'gatehouse_logins_total{result="failed"}': 1,
      'gatehouse_logins_total{result="locked"}': 1,
      'gatehouse_logins_total{result="mfa_ok"}': 1,
      'gatehouse_logins_total{result="mfa_failed"}': 1,
      'gatehouse_logins_total{result="throttled"}': 1,
      'gatehouse_rule_actions_total{action="block",rule="per-ip"}': 1,
      'gatehouse_leaks_blocked_total{where="headers"}': 1,
      'gatehouse_leaks_blocked_total{where="other"}': 1,
      'gatehouse_csrf_rejections_total': 1,
      'gatehouse_ip_blocks_total': 1,
    });
  });

  it('labels a request by its route pattern or a fixed name, its method from a fixed set, its status by class', async () => {
    const metrics = new GatewayMetrics(config);
    metrics.requestEnded('route[0]', 'GET', 200, 0.01);
    metrics.requestEnded('route[7]', 'GET', 200, 0.01);
    metrics.requestEnded('auth.login', 'POST', 401, 0.01);
    metrics.requestEnded('static', 'HEAD', 304, 0.01);
    metrics.requestEnded('healthz', 'GET', 200, 0.01);
    metrics.requestEnded(undefined, 'PROPFIND', 405, 0.01);
    metrics.requestEnded(undefined, 'GET', 0, 0.01);
    const got = await samples(metrics);
    expect(Object.fromEntries([...got].filter(([key]) => key.startsWith('gatehouse_requests_total')))).toEqual({
      'gatehouse_requests_total{method="GET",route="/api/**",status="2xx"}': 1,
      'gatehouse_requests_total{method="GET",route="none",status="2xx"}': 1,
      'gatehouse_requests_total{method="POST",route="auth",status="4xx"}': 1,
      'gatehouse_requests_total{method="HEAD",route="static",status="3xx"}': 1,
      'gatehouse_requests_total{method="GET",route="health",status="2xx"}': 1,
      'gatehouse_requests_total{method="other",route="none",status="4xx"}': 1,
      'gatehouse_requests_total{method="GET",route="none",status="other"}': 1,
    });
    expect(got.get('gatehouse_request_duration_seconds_count{route="none"}')).toBe(3);
  });
});
