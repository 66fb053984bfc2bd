import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { clusterPassword, startCluster, type Cluster } from '../helpers/cluster.js';
import { call, login } from '../helpers/http.js';
import { poll } from '../helpers/processes.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';
import { closed, openSocket, useWebSocketUpstream, type Opened, type TestWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10: at most 20 open WebSockets per session across nodes (decision 0015). The attack: a
 * session spreads its sockets over two `serve` nodes on one PostgreSQL database (with Redis), 10
 * on each, so that neither node's own count reaches 20. Also: 30 handshakes at once on both nodes,
 * the store down at the handshake, and a node killed while it holds sockets.
 */

const postgres = usePostgres();
const redis = useRedis();
const liveUpstream = useWebSocketUpstream();
let wsUpstream: TestWebSocketUpstream;
let cluster: Cluster;
let a: string;
let b: string;
const open: WebSocket[] = [];

const tooMany = { status: 429, code: 'too_many_connections' };

async function attempt(base: string, session: string): Promise<Opened> {
  const opened = await openSocket(base, '/ws/echo', { session, origin: base });
  if (opened.kind === 'open') {
    opened.socket.on('error', () => undefined);
    open.push(opened.socket);
  }
  return opened;
}

async function openOne(base: string, session: string): Promise<WebSocket> {
  const opened = await attempt(base, session);
  if (opened.kind !== 'open') throw new Error(`refused: ${opened.status} ${JSON.stringify(opened.body)}`);
  return opened.socket;
}

const outcome = (opened: Opened): unknown => (opened.kind === 'open' ? 'open' : { status: opened.status, code: opened.body?.error?.code });

/** A fresh session, already served by both nodes. */
async function session(): Promise<string> {
  const cookie = await login(a, 'many', clusterPassword);
  expect((await call(b, '/api/x', { session: cookie })).status).toBe(200);
  return cookie;
}

beforeAll(async () => {
  wsUpstream = liveUpstream.upstream;
  cluster = await startCluster({ postgres: postgres.server, redis: redis.server, users: ['many'],
    upstreams: [`{ name: live, url: "${wsUpstream.url}", credential: { type: bearer, secret: api-token } }`],
    routes: ['{ path: /ws/**, upstream: live, websocket: true, stripPrefix: /ws }'],
  });
  [a, b] = cluster.nodes.map((n) => n.base) as [string, string];
}, 120_000);

afterEach(async () => {
  for (const socket of open.splice(0)) socket.terminate();
  wsUpstream.reset();
});

afterAll(async () => {
  await cluster?.stop();
});

describe('at most 20 open WebSockets per session across nodes (SPEC §10)', () => {
  it('10 on node a and 10 on node b: the 21st is 429 on either; one closed on a frees one slot, which b then takes', async () => {
    const cookie = await session();
    const onA: WebSocket[] = [];
    for (let i = 0; i < 10; i++) onA.push(await openOne(a, cookie));
    for (let i = 0; i < 10; i++) await openOne(b, cookie);
    expect(outcome(await attempt(a, cookie))).toEqual(tooMany);
    expect(outcome(await attempt(b, cookie))).toEqual(tooMany);
    expect(wsUpstream.handshakes).toHaveLength(20);

    const first = onA[0]!;
    first.close();
    await closed(first);
    await poll(async () => {
      await openOne(b, cookie);
    });
    expect(outcome(await attempt(a, cookie))).toEqual(tooMany);
    expect(outcome(await attempt(b, cookie))).toEqual(tooMany);
    expect(wsUpstream.handshakes).toHaveLength(21);
    // Another session of the same user has slots of its own.
    await openOne(a, await session());
  }, 60_000);

  it('30 handshakes fired at once for one session, alternating between the nodes: exactly 20 open', async () => {
    const cookie = await session();
    const outcomes = (await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(i % 2 === 0 ? a : b, cookie)))).map(outcome);
    expect(outcomes.filter((o) => o === 'open'), JSON.stringify(outcomes)).toHaveLength(20);
    expect(outcomes.filter((o) => o !== 'open')).toEqual(Array.from({ length: 10 }, () => tooMany));
    expect(wsUpstream.handshakes).toHaveLength(20);
  }, 60_000);

  it('with PostgreSQL down, a known session\'s handshake is refused 503 store_unavailable, never let through uncounted', async () => {
    const cookie = await session();
    await openOne(b, cookie);
    await postgres.server.stop();
    try {
      // The session is in node b's memory (SPEC §8: known sessions keep working), so only the slot fails.
      expect((await call(b, '/api/x', { session: cookie })).status).toBe(200);
      const refused = await attempt(b, cookie);
      expect(outcome(refused)).toEqual({ status: 503, code: 'store_unavailable' });
      expect(refused.kind === 'refused' ? refused.headers['retry-after'] : null).toBeDefined();
      expect(wsUpstream.handshakes).toHaveLength(1);
    } finally {
      await postgres.server.start();
    }
    await poll(async () => {
      await openOne(b, cookie);
    });
  }, 60_000);

  it('a node killed (SIGKILL) while it holds 10 sockets: its slots count until its heartbeat is older than the liveness window, then the session opens 10 more on the other node', async () => {
    const cookie = await session();
    for (let i = 0; i < 10; i++) await openOne(a, cookie);
    for (let i = 0; i < 10; i++) await openOne(b, cookie);
    const killed = cluster.nodes[0].serve.child;
    killed.kill('SIGKILL');
    await once(killed, 'exit');
    // Just after the crash node a's heartbeat is still fresh: its 10 slots count.
    expect(outcome(await attempt(b, cookie))).toEqual(tooMany);
    // The liveness window is the real one (realtime/connection-slots.ts, slotLiveWithinMs: 5 s by the
    // database's clock, which a test cannot move); poll() retries for up to 10 s.
    const startedAt = Date.now();
    await poll(async () => {
      await openOne(b, cookie);
    });
    expect(Date.now() - startedAt).toBeGreaterThan(3_000);
    for (let i = 0; i < 9; i++) await openOne(b, cookie);
    expect(outcome(await attempt(b, cookie))).toEqual(tooMany);
  }, 60_000);
});
