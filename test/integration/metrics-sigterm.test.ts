import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { startGateway } from '../helpers/gateway.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §11 and decision 0017: SIGTERM to a single-process `gatehouse serve` drains the public port
 * first; the admin listener keeps answering /metrics while a request is still in flight, and
 * closes once the drain is over, before the process exits 0.
 */

let dir: string | undefined;
let serve: ServeProcess | undefined;
let upstream: TestUpstream | undefined;

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the admin listener at SIGTERM', () => {
  it('answers during the public drain and is closed when serve exits', async () => {
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-metrics-stop-'));
    const [port, adminPort] = [await freePort(), await freePort()];
    const configFile = join(dir, 'gatehouse.yaml');
    writeFileSync(configFile, [
      `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1] }`,
      `admin: { host: 127.0.0.1, port: ${adminPort} }`,
      'store: { sqlite: ./gatehouse.db }',
      'masterKey: file:./master.key',
      `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
      'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api, public: true }]',
      '',
    ].join('\n'));
    expect(gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' }).code).toBe(0);
    serve = await startServe(configFile, port);
    const admin = `http://127.0.0.1:${adminPort}`;

    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const upstreamReached = new Promise<void>((resolve) => (arrived = resolve));
    upstream.handle((_req, res) => {
      arrived();
      void held.then(() => res.end('done'));
    });
    const inFlight = call(`http://127.0.0.1:${port}`, '/api/slow');
    await upstreamReached;
    const exited = once(serve.child, 'exit');
    serve.child.kill('SIGTERM');
    // Draining: the public port is closed to new connections, the admin listener still answers.
    await expect.poll(async () => fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'open', () => 'closed'), { timeout: 3000 }).toBe('closed');
    expect((await scrape(admin)).text).toContain('gatehouse_requests_total');
    release();
    expect((await inFlight).status).toBe(200);
    const [code] = await exited;
    expect(code).toBe(0);
    await expect(fetch(`${admin}/metrics`)).rejects.toThrow();
  });
});

describe('the admin listener when the public port cannot be had', () => {
  it('is closed again when the start fails, so nothing keeps listening (or keeps the process alive)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const adminPort = await freePort();
    try {
      const port = (taken.address() as { port: number }).port;
      await expect(startGateway({ upstreamUrl: 'http://127.0.0.1:9', config: { server: { port }, admin: { host: '127.0.0.1', port: adminPort } } })).rejects.toThrow(/EADDRINUSE/);
      await expect(fetch(`http://127.0.0.1:${adminPort}/metrics`)).rejects.toThrow();
    } finally {
      taken.close();
    }
  });
});
