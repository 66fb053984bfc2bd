import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../cli/harness.js';
import { defaultRoutes, defaultUpstream, PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { allCloseWithin1s, connectionHolder, heldKinds, type Held, type HeldKind } from '../helpers/held-connection.js';
import { call, login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { liveUpstream, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10: an event stream or a WebSocket of a session that is revoked or expires is closed within
 * 1 s (a socket with 4401), by every revocation path and both timeouts (decision 0014), and a
 * connection of another user's session stays open. One table drives both kinds. The upstreams keep
 * each connection open until the gateway lets go, so one that ends was ended by the gateway. The
 * CLI runs in-process on the gateway's SQLite file, as `gatehouse` beside `serve` would: the
 * gateway hears of its revocations only by reading the revocation log.
 *
 * No test sleeps: a connection is ready once it relays end to end (its relay waited for the
 * watch's first look at its session, so only the revocation itself can end it from then on), and
 * the watch's `checked()` says it has looked at a moved clock.
 */
const idleMs = 2 * 60_000;
const absoluteMs = 5 * 60_000;
const newPassword = 'another long enough password';
const ws = useWebSocketUpstream();
const holder = connectionHolder({ streamPath: '/events/feed', socketPath: '/ws/feed' });
let upstream: TestUpstream;
let gw: TestGateway;

/** Each kind has users of its own, so that a password or a lock of one run does not reach the other's. */
const userOf = (name: string, kind: HeldKind): string => `${name}-${kind === 'WebSocket' ? 'ws' : 'es'}`;
const names = ['alice', 'bob', 'carol', 'dave', 'frank', 'erin', 'gina', 'hank', 'ivan'];

beforeAll(async () => {
  upstream = await startUpstream();
  upstream.handle(holder.handle);
  gw = await startGateway({
    upstreamUrl: upstream.url,
    users: heldKinds.flatMap((kind) => names.map((name) => ({ name: userOf(name, kind) }))),
    config: {
      session: { idleTimeout: '2m', absoluteTimeout: '5m' },
      upstreams: [defaultUpstream(upstream.url), liveUpstream(ws.upstream.url)],
      routes: [
        { path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false },
        { path: '/trip/**', methods: ['GET'], upstream: 'api', csrf: false },
        { path: '/ws/**', upstream: 'live', websocket: true },
        { path: '/public/events/**', methods: ['GET'], upstream: 'api', csrf: false, public: true },
        { path: '/public/ws/**', upstream: 'live', websocket: true, public: true },
        ...defaultRoutes,
      ],
      limits: [{ name: 'tripwire', match: '/trip/**', by: 'session', max: 1, per: '1m', action: 'revoke' }],
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
afterEach(() => {
  holder.destroyAll();
});

async function handleOf(cookie: string): Promise<string> {
  const { sessions } = (await call(gw.url, '/auth/sessions', { session: cookie })).json() as { sessions: { id: string; current: boolean }[] };
  return sessions.find((s) => s.current)!.id;
}

async function cli(args: string[], stdin = `${PASSWORD}\n`): Promise<void> {
  const run = await runRaw([...args, '--config', join(gw.dir, 'gatehouse.yaml')], { stdin });
  expect(run.code, run.stderr).toBe(0);
}

describe.each(heldKinds)('a revoked session\'s %s is closed within 1 s, and another user\'s stays open', (kind) => {
  const user = (name: string): string => userOf(name, kind);

  const hold = (cookie: string): Promise<Held> => holder.open(kind, gw.url, cookie);

  /** Another user's connection, opened before the revocation. */
  async function bystander(): Promise<Held> {
    return hold(await login(gw.url, user('erin')));
  }

  it('logout', async () => {
    const other = await bystander();
    const cookie = await login(gw.url, user('alice'));
    const held = await hold(cookie);
    await allCloseWithin1s([held], async () => expect((await call(gw.url, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204));
    await other.alive();
  });

  it('gatehouse session revoke ID (heard through the revocation log)', async () => {
    const other = await bystander();
    const cookie = await login(gw.url, user('alice'));
    const handle = await handleOf(cookie);
    const held = await hold(cookie);
    await allCloseWithin1s([held], () => cli(['session', 'revoke', handle]));
    await other.alive();
  });

  it('gatehouse session revoke --user, every session of the user', async () => {
    const other = await bystander();
    const held = [await hold(await login(gw.url, user('bob'))), await hold(await login(gw.url, user('bob')))];
    await allCloseWithin1s(held, () => cli(['session', 'revoke', '--user', user('bob')]));
    await other.alive();
  });

  it('gatehouse user lock', async () => {
    const other = await bystander();
    const held = await hold(await login(gw.url, user('carol')));
    await allCloseWithin1s([held], () => cli(['user', 'lock', user('carol')]));
    await other.alive();
    await cli(['user', 'unlock', user('carol')]);
  });

  it('gatehouse user passwd, every session of the user', async () => {
    const other = await bystander();
    const held = [await hold(await login(gw.url, user('frank'))), await hold(await login(gw.url, user('frank')))];
    await allCloseWithin1s(held, () => cli(['user', 'passwd', user('frank'), '--password-stdin'], `${newPassword}\n`));
    await other.alive();
  });

  it.each([
    { command: 'require-reset', name: 'gina' },
    { command: 'mfa-reset', name: 'hank' },
    { command: 'remove', name: 'ivan' },
  ])('gatehouse user $command, every session of the user', async ({ command, name }) => {
    const other = await bystander();
    const held = [await hold(await login(gw.url, user(name))), await hold(await login(gw.url, user(name)))];
    await allCloseWithin1s(held, () => cli(['user', command, user(name)], ''));
    await other.alive();
  });

  it('a password change (POST /auth/password) ends the other sessions\' connections, and keeps the current session\'s', async () => {
    const other = await bystander();
    const current = await login(gw.url, user('dave'));
    const mine = await hold(current);
    const theirs = await hold(await login(gw.url, user('dave')));
    await allCloseWithin1s([theirs], async () => {
      const changed = await call(gw.url, '/auth/password', { method: 'POST', session: current, body: { currentPassword: PASSWORD, newPassword } });
      expect(changed.status).toBe(204);
    });
    // The current session goes on under a rotated id (same handle): a look of the watch after the
    // change leaves its connection open, and it still relays both ways.
    await gw.gateway.connectionsWatch.checked();
    await mine.alive();
    await other.alive();
  });

  it('a revoke rate rule', async () => {
    const other = await bystander();
    const cookie = await login(gw.url, user('alice'));
    const held = await hold(cookie);
    expect((await call(gw.url, '/trip/a', { session: cookie, csrf: false })).status).toBe(200);
    await allCloseWithin1s([held], async () => expect((await call(gw.url, '/trip/b', { session: cookie, csrf: false })).status).toBe(401));
    await other.alive();
  });
});

describe.each(heldKinds)('an expired session\'s %s is closed within 1 s (moved clock), and another user\'s stays open', (kind) => {
  const user = (name: string): string => userOf(name, kind);

  const hold = (cookie: string): Promise<Held> => holder.open(kind, gw.url, cookie);

  it('idle timeout: no activity from the session anywhere', async () => {
    const held = await hold(await login(gw.url, user('alice')));
    gw.clock.advance(idleMs - 1000);
    // A look of the watch at the moved clock leaves it open.
    await gw.gateway.connectionsWatch.checked();
    await held.stillOpen();
    // Logged in now, so that it is far from its own deadlines.
    const other = await hold(await login(gw.url, user('erin')));
    await allCloseWithin1s([held], async () => gw.clock.advance(1000));
    await other.alive();
  });

  it('activity elsewhere keeps it open; the absolute timeout ends it', async () => {
    const cookie = await login(gw.url, user('alice'));
    const held = await hold(cookie);
    for (let at = 0; at < absoluteMs - 60_000; at += 60_000) {
      gw.clock.advance(60_000);
      expect((await call(gw.url, '/api/x', { session: cookie })).status).toBe(200);
      // The activity reaches the store within its 250 ms flush in real time; the clock jumps a
      // minute at once here, so the test waits for the flush before the next jump.
      await gw.gateway.services.sessions.flushActivity();
    }
    gw.clock.advance(59_000);
    // Past the first idle deadline, kept by the requests; a look of the watch 1 s before the
    // absolute deadline leaves it open.
    await gw.gateway.connectionsWatch.checked();
    await held.stillOpen();
    const other = await hold(await login(gw.url, user('erin')));
    await allCloseWithin1s([held], async () => gw.clock.advance(1000));
    await other.alive();
  });
});

describe.each(heldKinds)('a %s without a session (public route)', (kind) => {
  it('stays open through the watch\'s looks and a revoke --all that closes every session\'s', async () => {
    const held = await holder.open(kind, gw.url, null, kind === 'WebSocket' ? '/public/ws/feed' : '/public/events/feed');
    const sessions = await holder.open(kind, gw.url, await login(gw.url, userOf('alice', kind)));
    await allCloseWithin1s([sessions], () => cli(['session', 'revoke', '--all']));
    await gw.gateway.connectionsWatch.checked();
    await held.alive();
  });
});
