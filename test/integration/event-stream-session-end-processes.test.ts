import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../cli/harness.js';
import { clusterPassword, startCluster, type Cluster } from '../helpers/cluster.js';
import { EventStreamClient } from '../helpers/event-stream.js';
import { call, callOnFreshConnection, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §10 across processes: an event stream held by one worker or node ends within 1 s when its
 * session is revoked through another (decision 0014: each process closes its own connections when
 * the revocation reaches its session memory's forget). The upstream keeps each stream open, so a
 * stream that ends was ended by the gateway.
 */
const password = 'a long enough password';

/** `/api/events/**` streams (held open until the gateway lets go); anything else answers at once. */
function streamingUpstream(req: IncomingMessage, res: ServerResponse): void {
  if (!req.url?.startsWith('/events/')) {
    res.end('ok');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: open\n\n');
}

const clients: EventStreamClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

async function openStream(base: string, cookie: string): Promise<EventStreamClient> {
  // A request of its own (node:http's default agent keeps no connection alive): node:cluster hands
  // each new connection to the next worker in turn.
  const client = new EventStreamClient(`${base}/api/events/feed`, { session: cookie, headers: { 'x-csrf': '1' } });
  clients.push(client);
  expect(await client.event(1)).toBe('data: open');
  // Past the watch's first look at a new connection's session (one read of the store), so that only
  // the revocation itself can end the stream.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return client;
}

async function allEndWithin1s(streams: EventStreamClient[], end: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await end();
  for (const [i, stream] of streams.entries()) {
    const left = Math.max(0, 1000 - (performance.now() - started));
    await stream.closed(left).catch(() => {
      throw new Error(`event stream ${i + 1} was still open 1 s after its session was revoked elsewhere`);
    });
  }
  expect(performance.now() - started).toBeLessThan(1000);
}

describe('server.workers: 2 on SQLite', () => {
  let dir: string;
  let configFile: string;
  let upstream: TestUpstream;
  let serve: ServeProcess;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    upstream.handle(streamingUpstream);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-stream-workers-'));
    const port = await freePort();
    configFile = join(dir, 'gatehouse.yaml');
    writeFileSync(configFile, [
      `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1], workers: 2 }`,
      'store: { sqlite: ./gatehouse.db }',
      'masterKey: file:./master.key',
      `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
      'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
      '',
    ].join('\n'));
    await runRaw(['secret', 'set', 'api-token', '--config', configFile], { stdin: 'the-upstream-token-123' });
    await runRaw(['user', 'add', 'alice', '--password-stdin', '--config', configFile], { stdin: `${password}\n` });
    serve = await startServe(configFile, port);
    base = `http://127.0.0.1:${port}`;
    await poll(async () => {
      for (let i = 0; i < 4; i++) await callOnFreshConnection(base, '/healthz');
      const pids = new Set(serve.output().split('\n').filter((l) => l.includes('gatehouse listening')).map((l) => (JSON.parse(l) as { pid?: number }).pid));
      if (pids.size < 2) throw new Error('one worker only so far');
    });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Two streams on connections of their own land on both workers; the logout comes through one.
  it('logout through one worker ends the session\'s streams on both', async () => {
    const cookie = (await callOnFreshConnection(base, '/auth/login', { method: 'POST', body: { username: 'alice', password } })).cookie!;
    const streams = [await openStream(base, cookie), await openStream(base, cookie)];
    await allEndWithin1s(streams, async () => expect((await callOnFreshConnection(base, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204));
  });

  it('gatehouse session revoke --user beside serve ends them on both', async () => {
    const cookie = (await callOnFreshConnection(base, '/auth/login', { method: 'POST', body: { username: 'alice', password } })).cookie!;
    const streams = [await openStream(base, cookie), await openStream(base, cookie)];
    await allEndWithin1s(streams, async () => expect((await runRaw(['session', 'revoke', '--user', 'alice', '--config', configFile])).code).toBe(0));
  });
});

describe('two nodes on PostgreSQL and Redis', () => {
  const postgres = usePostgres();
  const redis = useRedis();
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ postgres: postgres.server, redis: redis.server, users: ['alice'] });
    cluster.upstream.handle(streamingUpstream);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a stream open at node a ends when the session logs out at node b', async () => {
    const [a, b] = cluster.nodes.map((n) => n.base) as [string, string];
    const cookie = await login(a, 'alice', clusterPassword);
    const stream = await openStream(a, cookie);
    await allEndWithin1s([stream], async () => expect((await call(b, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204));
  });

  it('a stream open at node b ends on gatehouse session revoke --user', async () => {
    const [, b] = cluster.nodes.map((n) => n.base) as [string, string];
    const stream = await openStream(b, await login(b, 'alice', clusterPassword));
    await allEndWithin1s([stream], async () => expect((await cluster.cliInProcess(['session', 'revoke', '--user', 'alice'])).code).toBe(0));
  });
});
