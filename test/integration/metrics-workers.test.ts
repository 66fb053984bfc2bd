import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callOnFreshConnection, type Reply } from '../helpers/http.js';
import { moved, scrape } from '../helpers/metrics.js';
import { freePort, gatehouse, seedForServe, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Decision 0017: with `server.workers: 2`, the admin listener runs in the primary of a real
 * `gatehouse serve`, and one scrape is the sum over both workers (prom-client's AggregatorRegistry
 * over the cluster's IPC channel). Every request goes over a connection of its own, so the cluster
 * spreads them over both workers; which one answered is read from the access log (its `pid`).
 */

const password = 'a long enough password';
let dir: string;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;
let admin: string;

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-metrics-workers-'));
  const [port, adminPort] = [await freePort(), await freePort()];
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1], workers: 2 }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    '',
  ].join('\n'));
  seedForServe(configFile, [{ name: 'alice' }], password);
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function answeredBy(replies: Reply[]): Promise<number[]> {
  const ids = replies.map((r) => String(r.headers['x-request-id']));
  return poll(async () => {
    const lines = serve.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; requestId?: string; pid?: number });
    const byId = new Map(lines.filter((l) => l.msg === 'request' && l.requestId).map((l) => [l.requestId!, l.pid]));
    return ids.map((id) => {
      const pid = byId.get(id);
      if (pid === undefined) throw new Error(`no access log line for ${id} yet`);
      return pid;
    });
  });
}

describe('/metrics with server.workers: 2', () => {
  it('sums both workers in one scrape on the primary', async () => {
    // Both workers up: each has answered (startServe waited for one only).
    await poll(async () => {
      const replies: Reply[] = [];
      for (let i = 0; i < 6; i += 1) replies.push(await callOnFreshConnection(base, '/healthz'));
      if (new Set(await answeredBy(replies)).size < 2) throw new Error('one worker only so far');
    });
    const before = (await scrape(admin)).samples;
    const replies: Reply[] = [];
    for (let i = 0; i < 10; i += 1) replies.push(await callOnFreshConnection(base, '/api/hello'));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(401));
    const login = await callOnFreshConnection(base, '/auth/login', { method: 'POST', body: { username: 'alice', password } });
    expect(login.status).toBe(200);
    const pids = await answeredBy(replies);
    expect(new Set(pids).size, 'both workers answered some').toBe(2);
    await expect.poll(async () => moved(before, (await scrape(admin)).samples, ['gatehouse_requests_total', 'gatehouse_logins_total', 'gatehouse_sessions_active']), { timeout: 5000 }).toEqual({
      'gatehouse_requests_total{method="GET",route="/api/**",status="4xx"}': 10,
      'gatehouse_requests_total{method="POST",route="auth",status="2xx"}': 1,
      'gatehouse_logins_total{result="ok"}': 1,
      // Read from the shared store by each worker: the scrape says 1, not 1 per worker.
      'gatehouse_sessions_active': 1,
    });
  });

  it('is not served on the public port, and stops with the workers on SIGTERM', async () => {
    expect((await callOnFreshConnection(base, '/metrics')).status).toBe(404);
    expect(await serve.stop()).toBe(0);
    await expect(fetch(`${admin}/metrics`)).rejects.toThrow();
  });
});
