import { afterAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { defaultRoutes, defaultUpstream, SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { moved, scrape, type Samples } from '../helpers/metrics.js';
import { EventStreamClient } from '../helpers/event-stream.js';
import { closed, liveUpstream, openOrFail, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §11 `/metrics`: a journey through a real gateway, scraped on its admin listener between the
 * steps; each step moves the counts by exactly what it did, and nothing else among them.
 */

const ws = useWebSocketUpstream();
const env = useGateway((upstream) => ({
  config: {
    server: { trustedProxies: ['127.0.0.1/32'] },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: [defaultUpstream(upstream.url), liveUpstream(ws.upstream.url)],
    routes: [
      { path: '/ws/**', upstream: 'live', websocket: true, stripPrefix: '/ws' },
      { path: '/rated/**', methods: ['GET'], upstream: 'api' },
      { path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false },
      ...defaultRoutes,
    ],
    limits: [{ name: 'rated-per-user', match: '/rated/**', by: 'user', max: 1, per: '1m', action: 'reject' }],
    ipRules: { deny: ['203.0.113.0/24'] },
  },
}));

/** The series whose every move the journey accounts for. */
const counted = [
  'gatehouse_requests_total',
  'gatehouse_logins_total',
  'gatehouse_rule_actions_total',
  'gatehouse_csrf_rejections_total',
  'gatehouse_ip_blocks_total',
  'gatehouse_leaks_blocked_total',
  'gatehouse_open_connections',
  'gatehouse_sessions_active',
  'gatehouse_upstream_duration_seconds_count',
  'gatehouse_session_cache_total',
];

let last: Samples | null = null;
const adminUrl = (): string => env.gw.gateway.admin!.url;

/** Runs a step and expects the counted series to move by exactly `expected` (polled: a request is counted as its response closes). */
async function step(action: () => Promise<void>, expected: Record<string, number>): Promise<void> {
  last ??= (await scrape(adminUrl())).samples;
  const before = last;
  await action();
  await expect.poll(async () => moved(before, (last = (await scrape(adminUrl())).samples), counted), { timeout: 2000 }).toEqual(expected);
}

const sockets: WebSocket[] = [];
afterAll(() => {
  for (const socket of sockets) socket.terminate();
});

describe('the counts move as the journey does (SPEC §11)', () => {
  let alice = '';

  it('answers /metrics in the Prometheus text format with every series, and the process metrics', async () => {
    const { text } = await scrape(adminUrl());
    for (const name of ['gatehouse_requests_total', 'gatehouse_request_duration_seconds', 'gatehouse_upstream_duration_seconds', 'gatehouse_sessions_active', 'gatehouse_logins_total',
      'gatehouse_rule_actions_total', 'gatehouse_csrf_rejections_total', 'gatehouse_ip_blocks_total', 'gatehouse_leaks_blocked_total', 'gatehouse_store_duration_seconds',
      'gatehouse_redis_duration_seconds', 'gatehouse_session_cache_total', 'gatehouse_open_connections', 'gatehouse_process_cpu_seconds_total', 'gatehouse_nodejs_heap_size_used_bytes']) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
  });

  it('login ok', async () => {
    await step(async () => {
      alice = await login(env.gw.url);
    }, {
      'gatehouse_requests_total{method="POST",route="auth",status="2xx"}': 1,
      'gatehouse_logins_total{result="ok"}': 1,
      'gatehouse_sessions_active': 1,
    });
  });

  it('login failed', async () => {
    await step(async () => {
      expect((await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: 'wrong' } })).status).toBe(401);
    }, {
      'gatehouse_requests_total{method="POST",route="auth",status="4xx"}': 1,
      'gatehouse_logins_total{result="failed"}': 1,
    });
  });

  it('a proxied request, its upstream time, and the session read from the store once, then from memory', async () => {
    await step(async () => {
      expect((await call(env.gw.url, '/api/hello', { session: alice })).status).toBe(200);
    }, {
      'gatehouse_requests_total{method="GET",route="/api/**",status="2xx"}': 1,
      'gatehouse_upstream_duration_seconds_count{upstream="api"}': 1,
      'gatehouse_session_cache_total{result="miss"}': 1,
    });
    await step(async () => {
      expect((await call(env.gw.url, '/api/hello', { session: alice })).status).toBe(200);
    }, {
      'gatehouse_requests_total{method="GET",route="/api/**",status="2xx"}': 1,
      'gatehouse_upstream_duration_seconds_count{upstream="api"}': 1,
      'gatehouse_session_cache_total{result="hit"}': 1,
    });
  });

  it('a CSRF rejection', async () => {
    await step(async () => {
      expect((await call(env.gw.url, '/api/things', { method: 'POST', session: alice, csrf: false, body: {} })).status).toBe(403);
    }, {
      'gatehouse_requests_total{method="POST",route="/api/**",status="4xx"}': 1,
      'gatehouse_csrf_rejections_total': 1,
      'gatehouse_session_cache_total{result="hit"}': 1,
    });
  });

  it('a rule firing', async () => {
    await step(async () => {
      expect((await call(env.gw.url, '/rated/a', { session: alice })).status).toBe(200);
      expect((await call(env.gw.url, '/rated/a', { session: alice })).status).toBe(429);
    }, {
      'gatehouse_requests_total{method="GET",route="/rated/**",status="2xx"}': 1,
      'gatehouse_requests_total{method="GET",route="/rated/**",status="4xx"}': 1,
      'gatehouse_rule_actions_total{action="reject",rule="rated-per-user"}': 1,
      'gatehouse_upstream_duration_seconds_count{upstream="api"}': 1,
      'gatehouse_session_cache_total{result="hit"}': 2,
    });
  });

  it('a blocked address: refused before any route is found', async () => {
    await step(async () => {
      expect((await call(env.gw.url, '/api/hello', { session: alice, headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(403);
    }, {
      'gatehouse_requests_total{method="GET",route="none",status="4xx"}': 1,
      'gatehouse_ip_blocks_total': 1,
    });
  });

  it('a leak blocked', async () => {
    env.upstream.handle((_req, res) => res.end(`echo ${SECRET}`));
    await step(async () => {
      expect((await call(env.gw.url, '/api/echo', { session: alice })).status).toBe(502);
    }, {
      'gatehouse_requests_total{method="GET",route="/api/**",status="5xx"}': 1,
      'gatehouse_leaks_blocked_total{where="body"}': 1,
      'gatehouse_upstream_duration_seconds_count{upstream="api"}': 1,
      'gatehouse_session_cache_total{result="hit"}': 1,
    });
  });

  it('a WebSocket open, then closed', async () => {
    let socket: WebSocket | null = null;
    await step(async () => {
      socket = await openOrFail(env.gw.url, '/ws/echo', { session: alice });
      sockets.push(socket);
    }, {
      'gatehouse_requests_total{method="GET",route="/ws/**",status="1xx"}': 1,
      'gatehouse_open_connections{kind="websocket"}': 1,
      'gatehouse_session_cache_total{result="hit"}': 1,
    });
    await step(async () => {
      socket!.close(1000);
      await closed(socket!);
    }, {
      'gatehouse_open_connections{kind="websocket"}': -1,
    });
  });

  it('an event stream open, then closed: counted as a request once its response ends', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: hello\n\n');
    });
    let client: EventStreamClient | null = null;
    await step(async () => {
      client = new EventStreamClient(`${env.gw.url}/events/feed`, { session: alice });
      await client.event(1);
    }, {
      'gatehouse_open_connections{kind="event_stream"}': 1,
      'gatehouse_upstream_duration_seconds_count{upstream="api"}': 1,
      'gatehouse_session_cache_total{result="hit"}': 1,
    });
    await step(async () => {
      client!.destroy();
    }, {
      'gatehouse_open_connections{kind="event_stream"}': -1,
      'gatehouse_requests_total{method="GET",route="/events/**",status="2xx"}': 1,
    });
  });

  it('times store calls by part of the store', async () => {
    const { samples } = await scrape(adminUrl());
    expect(samples.get('gatehouse_store_duration_seconds_count{store="sessions"}')).toBeGreaterThan(0);
    expect(samples.get('gatehouse_store_duration_seconds_count{store="users"}')).toBeGreaterThan(0);
  });
});
