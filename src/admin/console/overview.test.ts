import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditStore } from '../../audit/audit-store.js';
import { overview } from './overview.js';

const event = (time: number, type: AuditEvent['type'], detail: AuditEvent['detail'] = {}): AuditEvent => ({ time, type, user: null, ip: null, requestId: null, detail });

function store(events: AuditEvent[]): AuditStore {
  return { append: async () => undefined, recent: async (limit) => [...events].sort((a, b) => b.time - a.time).slice(0, limit) };
}

describe('overview', () => {
  it('counts audit events per bucket and series; a block action counts among blocks too; older events are left out', async () => {
    const now = 1_000_000_000_000;
    const result = await overview(store([
      event(now, 'login_succeeded'),
      event(now - 1, 'login_failed'),
      event(now - 6_000, 'login_failed'),
      event(now, 'rate_limit_triggered', { action: 'block' }),
      event(now, 'rate_limit_triggered', { action: 'reject' }),
      event(now, 'secret_leak_blocked'),
      event(now - 10 * 60_000, 'login_failed'),
    ]), now, { bucketMs: 5_000, buckets: 60 });
    const last = result.times.length - 1;
    expect(result.series.loginsOk[last]).toBe(1);
    expect(result.series.loginsFailed.reduce((a, b) => a + b)).toBe(2);
    expect(result.series.ruleActions[last]).toBe(2);
    expect(result.series.blocks[last]).toBe(1);
    expect(result.series.leaks[last]).toBe(1);
    expect(result.times[last]! <= now && now < result.times[last]! + 5_000).toBe(true);
    // No metrics registry read (no sampler): no request or latency series, and the source says so.
    expect(result.source).toEqual({ events: 'audit', requests: null });
    expect(result.requests).toBeNull();
  });
});
