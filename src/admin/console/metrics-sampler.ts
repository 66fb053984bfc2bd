import type { Registry } from 'prom-client';
import { bucketDelta, histogramQuantile, type Bucket } from '../../metrics/histogram-quantile.js';
import type { Clock } from '../../security/clock.js';

export const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof statusClasses)[number];

/** One reading of the counters the overview charts: totals since the process started. */
export interface MetricsSample {
  time: number;
  requests: Record<StatusClass, number>;
  /** gatehouse_upstream_duration_seconds, cumulative buckets summed over upstreams. */
  upstream: Bucket[];
}

/** The overview's request and latency charts: one point per pair of consecutive samples, at the later one's time. */
export interface MetricsSeries {
  /** The oldest sample's time: where the first point's interval begins (null before any sample). */
  from: number | null;
  times: number[];
  requestsPerSecond: Record<StatusClass, number[]>;
  /** Upstream latency quantiles in milliseconds over each interval; null where no upstream answered. */
  upstreamP50Ms: (number | null)[];
  upstreamP99Ms: (number | null)[];
}

/** One reading of the two metrics the overview charts (the sampler adds the time). */
export type MetricsReading = Omit<MetricsSample, 'time'>;
export type MetricsReader = () => Promise<MetricsReading>;

/**
 * SPEC §11's overview from the metrics: a sample every `intervalMs` into a ring of `windowMs`, so
 * the charts cost one read per interval whatever the traffic. `reader` reads the gateway's registry
 * (registryReader) or, in a primary with workers, their summed text (prometheusTextReader).
 */
export class MetricsSampler {
  readonly #reader: MetricsReader;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #size: number;
  readonly #ring: MetricsSample[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(options: { reader: MetricsReader; clock: Clock; intervalMs?: number; windowMs?: number }) {
    this.#reader = options.reader;
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs ?? 5_000;
    this.#size = Math.ceil((options.windowMs ?? 300_000) / this.#intervalMs) + 1;
  }

  /** Takes the first sample (the baseline) and one every interval after it. */
  async start(): Promise<void> {
    await this.sample();
    this.#timer = setInterval(() => void this.sample().catch(() => undefined), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** A reading now, kept when the clock moved about an interval on since the last kept one (the clock may be a test's). */
  async sample(): Promise<MetricsSample> {
    const taken = await this.#read();
    const last = this.#ring.at(-1);
    // Half an interval: a timer that fires a millisecond early still keeps its sample.
    if (last && taken.time - last.time < this.#intervalMs / 2) return taken;
    this.#ring.push(taken);
    if (this.#ring.length > this.#size) this.#ring.shift();
    return taken;
  }

  /**
   * The ring's points, up to a reading taken now: kept like the timer's when an interval has passed,
   * otherwise drawn as the newest, partial interval.
   */
  async series(): Promise<MetricsSeries> {
    const now = await this.sample();
    const samples = [...this.#ring];
    if (samples.length === 0 || now.time > samples.at(-1)!.time) samples.push(now);
    return metricsSeries(samples);
  }

  async #read(): Promise<MetricsSample> {
    const time = this.#clock.now();
    return { time, ...(await this.#reader()) };
  }
}

const requestsName = 'gatehouse_requests_total';
const upstreamName = 'gatehouse_upstream_duration_seconds';

function reading(requestValues: Iterable<{ status: string | undefined; value: number }>, bucketValues: Iterable<{ le: string | undefined; value: number }>): MetricsReading {
  const requests = Object.fromEntries(statusClasses.map((c) => [c, 0])) as Record<StatusClass, number>;
  for (const { status, value } of requestValues) {
    if (status !== undefined && status in requests) requests[status as StatusClass] += value;
  }
  const buckets = new Map<number, number>();
  for (const { le, value } of bucketValues) {
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  return { requests, upstream: [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le) };
}

/**
 * This process's registry, through prom-client's metric objects: only the two metrics are
 * collected, never the gauges that query the store.
 */
export function registryReader(registry: Pick<Registry, 'getSingleMetric'>): MetricsReader {
  return async () => {
    const requests = (await registry.getSingleMetric(requestsName)?.get())?.values ?? [];
    const upstream = (await registry.getSingleMetric(upstreamName)?.get())?.values ?? [];
    return reading(
      requests.map((v) => ({ status: v.labels.status === undefined ? undefined : String(v.labels.status), value: v.value })),
      upstream.filter((v) => 'metricName' in v && v.metricName === `${upstreamName}_bucket`).map((v) => ({ le: v.labels.le === undefined ? undefined : String(v.labels.le), value: v.value })),
    );
  };
}

/**
 * Prometheus text (the primary's sum over its workers, cluster-metrics.ts), reduced to the two
 * metrics. Only the `status` and `le` labels are read; their values are Gatehouse's own (a status
 * class, a bucket bound), never request data.
 */
export function prometheusTextReader(text: () => Promise<string>): MetricsReader {
  return async () => {
    const requests: { status: string | undefined; value: number }[] = [];
    const buckets: { le: string | undefined; value: number }[] = [];
    for (const line of (await text()).split('\n')) {
      if (line.startsWith(`${requestsName}{`)) requests.push({ status: /[{,]status="([^"]*)"/.exec(line)?.[1], value: sampleValue(line) });
      else if (line.startsWith(`${upstreamName}_bucket{`)) buckets.push({ le: /[{,]le="([^"]*)"/.exec(line)?.[1], value: sampleValue(line) });
    }
    return reading(requests, buckets);
  };
}

/** The sample's value: the last field of the line (no timestamps in prom-client's output). */
const sampleValue = (line: string): number => {
  const value = Number(line.slice(line.lastIndexOf(' ') + 1));
  return Number.isFinite(value) ? value : 0;
};

/**
 * Requests per second by status class from counter deltas, and upstream p50/p99 from the histogram's
 * bucket deltas over each interval (interpolated within a bucket, as Prometheus' histogram_quantile()).
 */
export function metricsSeries(samples: readonly MetricsSample[]): MetricsSeries {
  const out: MetricsSeries = {
    from: samples[0]?.time ?? null,
    times: [],
    requestsPerSecond: Object.fromEntries(statusClasses.map((c) => [c, []])) as unknown as Record<StatusClass, number[]>,
    upstreamP50Ms: [],
    upstreamP99Ms: [],
  };
  for (let i = 1; i < samples.length; i += 1) {
    const before = samples[i - 1]!;
    const after = samples[i]!;
    const seconds = (after.time - before.time) / 1000;
    if (seconds <= 0) continue;
    out.times.push(after.time);
    for (const c of statusClasses) {
      const delta = after.requests[c] - before.requests[c];
      // A counter that went down: the process restarted and counts from zero (Prometheus' rate()).
      out.requestsPerSecond[c].push((delta < 0 ? after.requests[c] : delta) / seconds);
    }
    const window = bucketDelta(after.upstream, before.upstream);
    out.upstreamP50Ms.push(milliseconds(histogramQuantile(0.5, window)));
    out.upstreamP99Ms.push(milliseconds(histogramQuantile(0.99, window)));
  }
  return out;
}

const milliseconds = (seconds: number | null): number | null => (seconds === null ? null : Math.round(seconds * 1e6) / 1e3);
