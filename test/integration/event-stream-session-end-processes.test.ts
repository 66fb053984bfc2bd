import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterPassword, startCluster, type Cluster } from '../helpers/cluster.js';
import { allCloseWithin1s, connectionHolder, heldKinds, type Held, type HeldKind } from '../helpers/held-connection.js';
import { call, callOnFreshConnection, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';
import { useWebSocketUpstream } from '../helpers/websocket.js';
import { startWorkers, workersPassword, type Workers } from '../helpers/workers.js';

/**
 * SPEC §10 across processes: an event stream or a WebSocket held by one worker or node is closed
 * within 1 s (a socket with 4401) when its session is revoked through another process or by the CLI
 * (decision 0014: each process closes its own connections when the revocation reaches its session
 * memory's forget), and another user's connection stays open. One table drives both kinds. The
 * upstreams keep each connection open, so one that ends was ended by the gateway.
 *
 * No sleeps: a connection is ready once it relays end to end, and a relay starts only after the
 * watch's first look at its session (decision 0014), so from then on only the revocation itself
 * can end it.
 */
const ws = useWebSocketUpstream();
const liveUpstream = (): string => `{ name: live, url: "${ws.upstream.url}", credential: { type: bearer, secret: api-token } }`;
const socketRoute = '{ path: /ws/**, upstream: live, websocket: true }';
const tripwire = 'limits: [{ name: tripwire, match: /api/trip/**, by: session, max: 1, per: 1m, action: revoke }]';
const generousLogin = 'login: { maxFailures: 1000, backoff: 1s, maxBackoff: 1s, perIp: { max: 100000, per: 1m } }';
/** Each kind has users of its own, so that a lock in one run does not reach the other's. */
const userOf = (name: string, kind: HeldKind): string => `${name}-${kind === 'WebSocket' ? 'ws' : 'es'}`;
const users = heldKinds.flatMap((kind) => ['alice', 'carol', 'erin'].map((name) => userOf(name, kind)));

const holder = connectionHolder({ streamPath: '/api/events/feed', socketPath: '/ws/feed', headers: { 'x-csrf': '1' }, origin: (base) => base });
afterEach(() => {
  holder.destroyAll();
});

describe('server.workers: 2 on SQLite', () => {
  let workers: Workers;

  beforeAll(async () => {
    workers = await startWorkers({ users, upstreams: [liveUpstream()], routes: [socketRoute], extra: [tripwire, generousLogin] });
    workers.upstream.handle(holder.handle);
  }, 120_000);
  afterAll(async () => {
    await workers?.stop();
  });

  async function freshLogin(user: string): Promise<string> {
    return (await callOnFreshConnection(workers.base, '/auth/login', { method: 'POST', body: { username: user, password: workersPassword } })).cookie!;
  }

  async function cli(args: string[]): Promise<void> {
    const run = await workers.cli(args);
    expect(run.code, run.stderr).toBe(0);
  }

  // Each connection is a connection of its own, and node:cluster hands them to the workers in turn:
  // the two held ones land on both workers, and the revoking request on one of them.
  describe.each(heldKinds)('%s', (kind) => {
    const user = (name: string): string => userOf(name, kind);
    const open = (cookie: string): Promise<Held> => holder.open(kind, workers.base, cookie);

    async function twoHeldAndABystander(name: string): Promise<{ cookie: string; held: Held[]; other: Held }> {
      const other = await open(await freshLogin(user('erin')));
      const cookie = await freshLogin(user(name));
      return { cookie, held: [await open(cookie), await open(cookie)], other };
    }

    it('logout through one worker closes the session\'s connections on both', async () => {
      const { cookie, held, other } = await twoHeldAndABystander('alice');
      await allCloseWithin1s(held, async () => expect((await callOnFreshConnection(workers.base, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204));
      await other.alive();
    });

    it('gatehouse session revoke --user beside serve closes them on both', async () => {
      const { held, other } = await twoHeldAndABystander('alice');
      await allCloseWithin1s(held, () => cli(['session', 'revoke', '--user', user('alice')]));
      await other.alive();
    });

    it('gatehouse user lock beside serve closes them on both', async () => {
      const { held, other } = await twoHeldAndABystander('carol');
      await allCloseWithin1s(held, () => cli(['user', 'lock', user('carol')]));
      await other.alive();
      await cli(['user', 'unlock', user('carol')]);
    });

    it('a revoke rule firing at one worker closes them on both', async () => {
      const { cookie, held, other } = await twoHeldAndABystander('alice');
      expect((await callOnFreshConnection(workers.base, '/api/trip/1', { session: cookie })).status).toBe(200);
      await allCloseWithin1s(held, async () => expect((await callOnFreshConnection(workers.base, '/api/trip/2', { session: cookie })).status).toBe(401));
      await other.alive();
    });
  });
});

describe('two nodes on PostgreSQL and Redis', () => {
  const postgres = usePostgres();
  const redis = useRedis();
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ postgres: postgres.server, redis: redis.server, users, upstreams: [liveUpstream()], routes: [socketRoute], extra: [tripwire, generousLogin] });
    cluster.upstream.handle(holder.handle);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  async function cli(args: string[]): Promise<void> {
    const run = await cluster.cliInProcess(args);
    expect(run.code, run.stderr).toBe(0);
  }

  describe.each(heldKinds)('%s', (kind) => {
    const user = (name: string): string => userOf(name, kind);
    const nodes = (): [string, string] => cluster.nodes.map((n) => n.base) as [string, string];

    /** Another user's connection and `name`'s new session, logged in at the first of `where`, held at each of them. */
    async function heldAt(where: string[], name: string): Promise<{ cookie: string; held: Held[]; other: Held }> {
      const first = where[0]!;
      const other = await holder.open(kind, first, await login(first, user('erin'), clusterPassword));
      const cookie = await login(first, user(name), clusterPassword);
      const held: Held[] = [];
      for (const base of where) held.push(await holder.open(kind, base, cookie));
      return { cookie, held, other };
    }

    it('held at node a, closed when the session logs out at node b', async () => {
      const [a, b] = nodes();
      const { cookie, held, other } = await heldAt([a], 'alice');
      await allCloseWithin1s(held, async () => expect((await call(b, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204));
      await other.alive();
    });

    it('held at both nodes, closed on gatehouse session revoke --user', async () => {
      const [a, b] = nodes();
      const { held, other } = await heldAt([b, a], 'alice');
      await allCloseWithin1s(held, () => cli(['session', 'revoke', '--user', user('alice')]));
      await other.alive();
    });

    it('held at both nodes, closed on gatehouse user lock', async () => {
      const [a, b] = nodes();
      const { held, other } = await heldAt([a, b], 'carol');
      await allCloseWithin1s(held, () => cli(['user', 'lock', user('carol')]));
      await other.alive();
      await cli(['user', 'unlock', user('carol')]);
    });

    it('held at node a, closed when a revoke rule fires at node b', async () => {
      const [a, b] = nodes();
      const { cookie, held, other } = await heldAt([a], 'alice');
      expect((await call(b, '/api/trip/1', { session: cookie })).status).toBe(200);
      await allCloseWithin1s(held, async () => expect((await call(b, '/api/trip/2', { session: cookie })).status).toBe(401));
      await other.alive();
    });
  });
});
