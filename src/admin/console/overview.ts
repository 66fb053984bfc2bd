import type { AuditEvent, AuditStore, AuditType } from '../../audit/audit-store.js';
import type { MetricsSampler, MetricsSeries } from './metrics-sampler.js';

/** The overview's charts, in buckets of `bucketMs` ending now: one count per bucket and series. */
export interface Overview {
  /**
   * Where each part comes from. Events (logins, rule actions, blocks, leaks, CSRF) from the audit
   * log, which every worker and node writes to the one store; requests and upstream latency from
   * the gateway's metrics registry (null where no registry is read).
   */
  source: { events: 'audit'; requests: 'metrics' | null };
  /** Requests per second by status class and upstream p50/p99, sampled from the metrics registry. */
  requests: MetricsSeries | null;
  bucketMs: number;
  /** Start of each bucket, ms since the epoch. */
  times: number[];
  series: Record<OverviewSeries, number[]>;
}

export type OverviewSeries = 'loginsOk' | 'loginsFailed' | 'ruleActions' | 'blocks' | 'leaks' | 'csrf';

const seriesOf: Partial<Record<AuditType, OverviewSeries>> = {
  login_succeeded: 'loginsOk',
  login_failed: 'loginsFailed',
  rate_limit_triggered: 'ruleActions',
  ip_blocked: 'blocks',
  secret_leak_blocked: 'leaks',
  csrf_rejected: 'csrf',
};

/** How far back the audit log is read for one overview: bounded, so a flood cannot make a poll slow. */
const scanLimit = 5_000;

/**
 * Counts from the audit log: logins, rule actions (a `block` rule's trigger also counts as a block),
 * IP blocks, leaks, CSRF refusals. They stay there rather than in the metrics registry because the
 * audit log is shared: it counts every worker's and node's events, where a registry counts one
 * process's. Requests by status class and upstream latency are not audited: they come from
 * `sampler`, which reads the registry.
 */
export async function overview(audit: AuditStore, now: number, options: { bucketMs?: number; buckets?: number; sampler?: MetricsSampler | null } = {}): Promise<Overview> {
  const bucketMs = options.bucketMs ?? 5_000;
  const buckets = options.buckets ?? 60;
  const end = Math.floor(now / bucketMs) * bucketMs + bucketMs;
  const start = end - buckets * bucketMs;
  const times = Array.from({ length: buckets }, (_, i) => start + i * bucketMs);
  const series = Object.fromEntries((['loginsOk', 'loginsFailed', 'ruleActions', 'blocks', 'leaks', 'csrf'] as const).map((s) => [s, times.map(() => 0)])) as Overview['series'];
  for (const event of await audit.recent(scanLimit)) {
    if (event.time < start) break;
    const index = Math.floor((event.time - start) / bucketMs);
    if (index < 0 || index >= buckets) continue;
    const name = seriesOf[event.type];
    if (name) series[name][index]! += 1;
    if (isBlockAction(event)) series.blocks[index]! += 1;
  }
  // With workers, a reading waits for each of them and fails when one does not answer (starting,
  // replaced: prom-client gives up after 5 s): the audit-based charts are still worth showing.
  const requests = options.sampler ? await options.sampler.series().catch(() => null) : null;
  return { source: { events: 'audit', requests: requests ? 'metrics' : null }, requests, bucketMs, times, series };
}

const isBlockAction = (event: AuditEvent): boolean => event.type === 'rate_limit_triggered' && event.detail.action === 'block';
