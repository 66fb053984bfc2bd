import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { ManualClock } from '../../security/clock.js';
import { MetricsSampler, metricsSeries, prometheusTextReader, registryReader, type MetricsSample } from './metrics-sampler.js';

const config = parseConfig({
  admin: {},
  upstreams: [
    { name: 'api', url: 'http://127.0.0.1:9000', credential: { type: 'bearer', secret: 'tok' } },
    { name: 'other', url: 'http://127.0.0.1:9001', credential: { type: 'bearer', secret: 'tok' } },
  ],
  routes: [{ path: '/api/**', upstream: 'api' }, { path: '/other/**', upstream: 'other' }],
}, '/x');

const sample = (time: number, ok: number, errors: number, upstream: [number, number][]): MetricsSample => ({
  time,
  requests: { '1xx': 0, '2xx': ok, '3xx': 0, '4xx': 0, '5xx': errors },
  upstream: upstream.map(([le, count]) => ({ le, count })),
});

describe('metricsSeries', () => {
  it('requests per second from counter deltas; p50/p99 from the bucket deltas of each interval', () => {
    const series = metricsSeries([
      sample(0, 100, 0, [[0.1, 50], [1, 60], [Infinity, 60]]),
      // 5 s later: 50 more 2xx and 10 more 5xx; 10 more upstream answers, all in (0.1, 1].
      sample(5_000, 150, 10, [[0.1, 50], [1, 70], [Infinity, 70]]),
      // The next 10 s: nothing answered.
      sample(15_000, 150, 10, [[0.1, 50], [1, 70], [Infinity, 70]]),
    ]);
    expect(series.times).toEqual([5_000, 15_000]);
    expect(series.requestsPerSecond['2xx']).toEqual([10, 0]);
    expect(series.requestsPerSecond['5xx']).toEqual([2, 0]);
    // Rank 5 of 10 in (0.1, 1]: 0.1 + 0.9 · 5/10 = 0.55 s; rank 9.9: 0.1 + 0.9 · 0.99 = 0.991 s.
    // The 50 fast answers before the first sample do not pull the quantiles down.
    expect(series.upstreamP50Ms).toEqual([550, null]);
    expect(series.upstreamP99Ms).toEqual([991, null]);
  });

  it('skips a pair with no time between them', () => {
    expect(metricsSeries([sample(0, 1, 0, []), sample(0, 5, 0, [])]).times).toEqual([]);
  });
});

describe('MetricsSampler', () => {
  it("reads the gateway registry: status classes summed over routes and methods, upstream buckets over upstreams", async () => {
    const metrics = new GatewayMetrics(config);
    const clock = new ManualClock(1_000_000);
    const sampler = new MetricsSampler({ reader: registryReader(metrics.registry), clock, intervalMs: 5_000, windowMs: 300_000 });
    await sampler.sample();
    for (let i = 0; i < 8; i += 1) metrics.requestEnded('route[0]', 'GET', 200, 0.01);
    metrics.requestEnded('route[1]', 'POST', 201, 0.01);
    metrics.requestEnded('route[0]', 'GET', 503, 0.01);
    metrics.requestEnded(undefined, 'GET', 404, 0.001);
    metrics.upstreamAnswered('api', 0.2);
    metrics.upstreamAnswered('other', 0.4);
    clock.advance(5_000);
    const series = await sampler.series();
    expect(series.times).toEqual([1_005_000]);
    expect(series.requestsPerSecond).toEqual({ '1xx': [0], '2xx': [9 / 5], '3xx': [0], '4xx': [1 / 5], '5xx': [1 / 5] });
    // Both answers in (0.1, 0.25] and (0.25, 0.5]: rank 1 of 2 is the top of (0.1, 0.25].
    expect(series.upstreamP50Ms).toEqual([250]);
  });

  it('keeps a bounded ring: five minutes of samples', async () => {
    const metrics = new GatewayMetrics(config);
    const clock = new ManualClock(0);
    const sampler = new MetricsSampler({ reader: registryReader(metrics.registry), clock, intervalMs: 5_000, windowMs: 300_000 });
    for (let i = 0; i < 200; i += 1) {
      await sampler.sample();
      // Too soon: not kept.
      clock.advance(1_000);
      await sampler.sample();
      clock.advance(4_000);
    }
    // 61 samples kept (the poll's own reading among them), 5 minutes apart end to end: 60 points.
    const series = await sampler.series();
    expect(series.times.length).toBe(60);
    expect(series.times[0]).toBe(clock.now() - 295_000);
    expect(series.times.at(-1)).toBe(clock.now());
  });

  it('reads the same from Prometheus text (the primary\'s sum over workers) as from the registry', async () => {
    const metrics = new GatewayMetrics(config);
    metrics.requestEnded('route[0]', 'GET', 200, 0.01);
    metrics.requestEnded('route[1]', 'GET', 302, 0.01);
    metrics.requestEnded(undefined, 'PUT', 404, 0.01);
    metrics.upstreamAnswered('api', 0.03);
    metrics.upstreamAnswered('other', 7);
    const fromText = await prometheusTextReader(() => metrics.registry.metrics())();
    expect(fromText).toEqual(await registryReader(metrics.registry)());
    expect(fromText.requests).toEqual({ '1xx': 0, '2xx': 1, '3xx': 1, '4xx': 1, '5xx': 0 });
    expect(fromText.upstream.find((b) => b.le === 0.05)?.count).toBe(1);
    expect(fromText.upstream.find((b) => b.le === Infinity)?.count).toBe(2);
  });
});
