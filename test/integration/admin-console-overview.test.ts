import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, consoleSignIn, enrolTotp, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §11: the overview's requests per second by status class and upstream p50/p99, read from the
 * gateway's metrics registry. The gateway's clock is the test's: each poll after `clock.advance(5 s)`
 * closes one 5-second interval, so the rates are exact.
 */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;
let cookie: string;

interface Requests {
  times: number[];
  requestsPerSecond: Record<string, number[]>;
  upstreamP50Ms: (number | null)[];
  upstreamP99Ms: (number | null)[];
}

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'root', roles: ['admin'] }], config: { admin: adminKey(port) } });
  konsole = await startConsole(gw, port);
  const secret = await enrolTotp(gw, 'root');
  cookie = await consoleSignIn(konsole.url, gw, 'root', secret);
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

/** Moves the gateway's clock one interval on and reads the overview's newest request point. */
async function nextInterval(): Promise<{ rates: Record<string, number>; p50: number | null; p99: number | null; source: unknown }> {
  gw.clock.advance(5_000);
  const reply = await consoleCall(konsole.url, '/api/overview', cookie);
  expect(reply.status).toBe(200);
  const body = reply.json() as { source: unknown; requests: Requests };
  const last = body.requests.times.length - 1;
  expect(body.requests.times[last]).toBe(gw.clock.now());
  const rates = Object.fromEntries(Object.entries(body.requests.requestsPerSecond).map(([k, v]) => [k, v[last]!]));
  return { rates, p50: body.requests.upstreamP50Ms[last]!, p99: body.requests.upstreamP99Ms[last]!, source: body.source };
}

describe('admin console overview from /metrics', () => {
  it('moves requests/s by status class and upstream p50/p99 with the traffic of each interval', async () => {
    // Closes the interval of the sign-in; from here on only this test's traffic counts.
    await nextInterval();

    // A slow upstream: 300 ms before each answer, 200 or 503 by path.
    upstream.handle((req, res) => {
      setTimeout(() => {
        res.writeHead(req.url?.includes('fail') ? 503 : 200, { 'content-type': 'application/json' });
        res.end('{}');
      }, 300);
    });
    const sent = await Promise.all([
      ...Array.from({ length: 10 }, () => call(gw.url, '/api/public/ok')),
      ...Array.from({ length: 5 }, () => call(gw.url, '/api/public/fail')),
      // Refused by the gateway (no route), never reaching the upstream.
      ...Array.from({ length: 15 }, () => call(gw.url, '/nowhere')),
    ]);
    expect(sent.map((r) => r.status).sort()).toEqual([...Array(10).fill(200), ...Array(15).fill(404), ...Array(5).fill(503)]);
    const slow = await nextInterval();
    expect(slow.source).toEqual({ events: 'audit', requests: 'metrics' });
    expect(slow.rates).toEqual({ '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 3, '5xx': 1 });
    // All 15 upstream answers in (0.25, 0.5] s (300 ms and some): the interpolated quantiles lie in it.
    expect(slow.p50).toBeGreaterThan(250);
    expect(slow.p50).toBeLessThanOrEqual(500);
    expect(slow.p99).toBeGreaterThan(slow.p50!);
    expect(slow.p99).toBeLessThanOrEqual(500);

    // The next interval: a fast upstream; the slow answers before it no longer count.
    upstream.handle(null);
    for (let i = 0; i < 5; i += 1) expect((await call(gw.url, '/api/public/ok')).status).toBe(200);
    const fast = await nextInterval();
    expect(fast.rates['2xx']).toBe(1);
    expect(fast.rates['5xx']).toBe(0);
    expect(fast.p50).toBeLessThan(250);

    // An interval without traffic: no rate, and no latency rather than a zero.
    const idle = await nextInterval();
    expect(Object.values(idle.rates)).toEqual([0, 0, 0, 0, 0]);
    expect(idle.p50).toBeNull();
  });
});
