import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEvent, AuditType } from '../audit/audit-store.js';
import type { GatewayConfig } from '../config/schema.js';

/**
 * SPEC §11 `/metrics`: the gateway's series, in a registry of its own (two gateways in one process,
 * as in the tests, never share a count). Every label value comes from the configuration or a fixed
 * set written here, never from a request: no user name, address or raw path can reach a label, and
 * an attacker cannot grow the series without bound (OWASP Logging Cheat Sheet: treat request data
 * as untrusted wherever it is recorded).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'route' | 'method' | 'status'>;
  readonly #requestSeconds: Histogram<'route'>;
  readonly #upstreamSeconds: Histogram<'upstream'>;
  readonly #logins: Counter<'result'>;
  readonly #ruleActions: Counter<'rule' | 'action'>;
  readonly #csrf: Counter;
  readonly #ipBlocks: Counter;
  readonly #leaks: Counter<'where'>;
  readonly #storeSeconds: Histogram<'store'>;
  readonly #redisSeconds: Histogram<'operation'>;
  readonly #sessionCache: Counter<'result'>;
  readonly #requestChildren = new Map<string, { count: Counter.Internal; seconds: Histogram.Internal<'route'> }>();
  readonly #routePatterns: readonly string[];
  #sources: MetricSources | null = null;

  constructor(config: GatewayConfig) {
    const registers = [this.registry];
    const sources = (): MetricSources | null => this.#sources;
    this.#routePatterns = config.routes.map((route) => route.path);
    this.#requests = new Counter({
      name: 'gatehouse_requests_total',
      help: 'Requests answered, by route (its configured pattern, or auth, static, health, none), method and status class.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.#requestSeconds = new Histogram({
      name: 'gatehouse_request_duration_seconds',
      help: 'Time from the request line to the end of the response, by route.',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#upstreamSeconds = new Histogram({
      name: 'gatehouse_upstream_duration_seconds',
      help: 'Time until the upstream answered with its response headers, by upstream name.',
      labelNames: ['upstream'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#logins = new Counter({
      name: 'gatehouse_logins_total',
      help: 'Login and second-factor attempts by result: ok, failed, locked (a back-off started), throttled (refused during one), mfa_ok, mfa_failed.',
      labelNames: ['result'],
      registers,
    });
    this.#ruleActions = new Counter({
      name: 'gatehouse_rule_actions_total',
      help: 'Rate rules that fired, by rule name and action (once per key and window, as audited).',
      labelNames: ['rule', 'action'],
      registers,
    });
    this.#csrf = new Counter({ name: 'gatehouse_csrf_rejections_total', help: 'Requests refused with 403 csrf_rejected.', registers });
    this.#ipBlocks = new Counter({ name: 'gatehouse_ip_blocks_total', help: 'Requests refused with 403 ip_blocked (IP lists and rate-rule blocks).', registers });
    this.#leaks = new Counter({
      name: 'gatehouse_leaks_blocked_total',
      help: 'Upstream responses (headers, body) or WebSocket messages that carried a secret and were stopped.',
      labelNames: ['where'],
      registers,
    });
    this.#storeSeconds = new Histogram({
      name: 'gatehouse_store_duration_seconds',
      help: 'Store calls (SQLite or PostgreSQL), by part of the store (sessions, users, audit…).',
      labelNames: ['store'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#redisSeconds = new Histogram({
      name: 'gatehouse_redis_duration_seconds',
      help: 'Redis calls beside a PostgreSQL store, by operation (counters, ping).',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    new Gauge({
      name: 'gatehouse_sessions_active',
      help: 'Sessions in the store not yet purged, read from the store at each scrape (the same on every worker).',
      // Every worker reads the same store: summing their answers would count each session once per worker.
      aggregator: 'max',
      registers,
      async collect() {
        const read = sources();
        if (read) this.set(await read.activeSessions());
      },
    });
    this.#sessionCache = new Counter({
      name: 'gatehouse_session_cache_total',
      help: "Requests with a session cookie answered from this process's session memory (hit) or only by the store (miss).",
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'gatehouse_open_connections',
      help: 'Open long-lived connections of this process, by kind: websocket or event_stream.',
      labelNames: ['kind'],
      registers,
      collect() {
        const open = sources()?.openConnections() ?? { sockets: 0, streams: 0 };
        this.set({ kind: 'websocket' }, open.sockets);
        this.set({ kind: 'event_stream' }, open.streams);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  /** What the gauges read at scrape time, once the gateway has built it. */
  readFrom(sources: MetricSources): void {
    this.#sources = sources;
  }

  /**
   * One answered request (http/server.ts, where the access line is written). `routes` are those of
   * the configuration the request began with: after a reload (SIGHUP) `route[N]` may name another.
   */
  requestEnded(endpointId: string | undefined, method: string, status: number, seconds: number, routes?: readonly { path: string }[]): void {
    const route = this.#routeLabel(endpointId, routes);
    const methodValue = methodLabel(method);
    const statusValue = statusClass(status);
    // The hot path: each label combination's child is looked up once (the set is bounded, above).
    const key = `${route}\n${methodValue}\n${statusValue}`;
    let child = this.#requestChildren.get(key);
    if (!child) this.#requestChildren.set(key, (child = { count: this.#requests.labels(route, methodValue, statusValue), seconds: this.#requestSeconds.labels(route) }));
    child.count.inc();
    child.seconds.observe(seconds);
  }

  /** A request refused with this error code (http/server.ts, where every refusal is answered). */
  refused(code: string): void {
    if (code === 'csrf_rejected') this.#csrf.inc();
    else if (code === 'ip_blocked') this.#ipBlocks.inc();
    // A login or second-factor attempt refused by the back-off, before any password was checked.
    else if (code === 'too_many_attempts') this.#logins.inc({ result: 'throttled' });
  }

  /** The pipeline's session stage (http/pipeline.ts): the session memory answered, or the store had to. */
  sessionLookup(hit: boolean): void {
    this.#sessionCache.inc({ result: hit ? 'hit' : 'miss' });
  }

  upstreamAnswered(upstream: string, seconds: number): void {
    this.#upstreamSeconds.observe({ upstream }, seconds);
  }

  storeCall(store: string, seconds: number): void {
    this.#storeSeconds.observe({ store }, seconds);
  }

  redisCall(operation: 'counters' | 'ping', seconds: number): void {
    this.#redisSeconds.observe({ operation }, seconds);
  }

  /** An audit event (audit/audit-log.ts): the one place logins, rule actions and leaks are recorded. */
  audited(type: AuditType, detail: AuditEvent['detail']): void {
    const login = loginResults.get(type);
    if (login) {
      this.#logins.inc({ result: login });
      return;
    }
    if (type === 'rate_limit_triggered' && typeof detail.rule === 'string' && typeof detail.action === 'string') {
      // Both come from the configuration (limits[].name, limits[].action), never from the request.
      this.#ruleActions.inc({ rule: detail.rule, action: detail.action });
    } else if (type === 'secret_leak_blocked') {
      this.#leaks.inc({ where: leakPlaces.has(String(detail.where)) ? String(detail.where) : 'other' });
    }
  }

  /**
   * `route[N]` is a configured route: its pattern. Gatehouse's own endpoints and the static site
   * get a fixed name; a request answered before any endpoint was found (unmatched, refused early) is `none`.
   */
  #routeLabel(endpointId: string | undefined, routes: readonly { path: string }[] | undefined): string {
    if (endpointId === undefined) return 'none';
    if (endpointId.startsWith('route[')) {
      const index = Number(endpointId.slice(6, -1));
      return (routes ? routes[index]?.path : this.#routePatterns[index]) ?? 'none';
    }
    if (endpointId === 'static') return 'static';
    if (endpointId === 'healthz' || endpointId === 'readyz') return 'health';
    if (endpointId === 'jwks') return 'jwks';
    return 'auth';
  }
}

/** What the gauges read at scrape time. */
export interface MetricSources {
  activeSessions(): Promise<number>;
  openConnections(): { sockets: number; streams: number };
}

const loginResults = new Map<AuditType, string>([
  ['login_succeeded', 'ok'],
  ['login_failed', 'failed'],
  ['login_throttled', 'locked'],
  ['mfa_verified', 'mfa_ok'],
  ['mfa_failed', 'mfa_failed'],
]);

const leakPlaces = new Set(['headers', 'body', 'stream', 'websocket']);

/** Methods beyond these are one label value: a client can send any token as a method. */
const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function methodLabel(method: string): string {
  return knownMethods.has(method) ? method : 'other';
}

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}
