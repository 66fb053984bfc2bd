import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../cli/harness.js';
import { EventStreamClient } from '../helpers/event-stream.js';
import { defaultRoutes, PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §10: an event stream of a session that is revoked or expires is closed within 1 s, by every
 * revocation path and both timeouts (decision 0014). The upstream keeps each stream open until the
 * gateway lets go, so a stream that ends was ended by the gateway. The CLI runs in-process on the
 * gateway's SQLite file, as `gatehouse` beside `serve` would: the gateway hears of its revocations
 * only by reading the revocation log.
 */
const idleMs = 2 * 60_000;
const absoluteMs = 5 * 60_000;
let upstream: TestUpstream;
let gw: TestGateway;
const clients: EventStreamClient[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  upstream.handle((req, res) => {
    if (!req.url?.startsWith('/events/')) {
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: open\n\n');
  });
  gw = await startGateway({
    upstreamUrl: upstream.url,
    users: ['alice', 'bob', 'carol', 'dave'].map((name) => ({ name })),
    config: {
      session: { idleTimeout: '2m', absoluteTimeout: '5m' },
      routes: [{ path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false }, ...defaultRoutes],
      limits: [{ name: 'tripwire', match: '/events/trip/**', by: 'session', max: 1, per: '1m', action: 'revoke' }],
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

async function openStream(cookie: string, path = '/events/feed'): Promise<EventStreamClient> {
  const client = new EventStreamClient(`${gw.url}${path}`, { session: cookie });
  clients.push(client);
  expect(await client.event(1)).toBe('data: open');
  // Past the watch's first look at a new connection's session (one read of the store), so that only
  // the revocation itself can end the stream.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return client;
}

/** Runs `end` and fails unless the stream is closed within 1 s of its start. */
async function endsWithin1s(client: EventStreamClient, end: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await end();
  const left = Math.max(0, 1000 - (performance.now() - started));
  await client.closed(left).catch(() => {
    throw new Error(`the event stream was still open 1 s after the session ended (revocation took ${Math.round(performance.now() - started - left)} ms itself)`);
  });
  expect(performance.now() - started).toBeLessThan(1000);
}

async function handleOf(cookie: string): Promise<string> {
  const { sessions } = (await call(gw.url, '/auth/sessions', { session: cookie })).json() as { sessions: { id: string; current: boolean }[] };
  return sessions.find((s) => s.current)!.id;
}

async function cli(...args: string[]): Promise<void> {
  const run = await runRaw([...args, '--config', join(gw.dir, 'gatehouse.yaml')], { stdin: `${PASSWORD}\n` });
  expect(run.code, run.stderr).toBe(0);
}

describe('a revoked session\'s event stream is closed within 1 s', () => {
  it('logout', async () => {
    const cookie = await login(gw.url, 'alice');
    const stream = await openStream(cookie);
    await endsWithin1s(stream, async () => expect((await call(gw.url, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204));
  });

  it('gatehouse session revoke ID (heard through the revocation log)', async () => {
    const cookie = await login(gw.url, 'alice');
    const handle = await handleOf(cookie);
    const stream = await openStream(cookie);
    await endsWithin1s(stream, () => cli('session', 'revoke', handle));
  });

  it('gatehouse session revoke --user', async () => {
    const stream = await openStream(await login(gw.url, 'bob'));
    const other = await openStream(await login(gw.url, 'bob'));
    await endsWithin1s(stream, () => cli('session', 'revoke', '--user', 'bob'));
    await other.closed(1000);
  });

  it('gatehouse user lock', async () => {
    const stream = await openStream(await login(gw.url, 'carol'));
    await endsWithin1s(stream, () => cli('user', 'lock', 'carol'));
    await cli('user', 'unlock', 'carol');
  });

  it('a password change ends the other sessions\' streams, and keeps the current session\'s', async () => {
    const current = await login(gw.url, 'dave');
    const mine = await openStream(current);
    const theirs = await openStream(await login(gw.url, 'dave'));
    await endsWithin1s(theirs, async () => {
      const changed = await call(gw.url, '/auth/password', { method: 'POST', session: current, body: { currentPassword: PASSWORD, newPassword: 'another long enough password' } });
      expect(changed.status).toBe(204);
    });
    // The current session goes on under a rotated id (same handle): its stream is not ended.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(mine.ended || mine.cut, 'the current session\'s stream was closed by its own password change').toBe(false);
  });

  it('a revoke rate rule', async () => {
    const cookie = await login(gw.url, 'alice');
    const stream = await openStream(cookie);
    await openStream(cookie, '/events/trip/a');
    await endsWithin1s(stream, async () => expect((await call(gw.url, '/events/trip/b', { session: cookie, csrf: false })).status).toBe(401));
  });
});

describe('an expired session\'s event stream is closed within 1 s (moved clock)', () => {
  it('idle timeout: no activity from the session anywhere', async () => {
    const stream = await openStream(await login(gw.url, 'alice'));
    gw.clock.advance(idleMs - 1000);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(stream.ended || stream.cut, 'closed before its idle deadline').toBe(false);
    await endsWithin1s(stream, async () => gw.clock.advance(1000));
  });

  it('activity elsewhere keeps it open; the absolute timeout ends it', async () => {
    const cookie = await login(gw.url, 'alice');
    const stream = await openStream(cookie);
    for (let at = 0; at < absoluteMs - 60_000; at += 60_000) {
      gw.clock.advance(60_000);
      expect((await call(gw.url, '/api/x', { session: cookie })).status).toBe(200);
      // The activity reaches the store within its 250 ms flush in real time; the clock jumps a
      // minute at once here, so the test waits for the flush before the next jump.
      await gw.gateway.services.sessions.flushActivity();
    }
    // Past the first idle deadline, kept by the requests.
    expect(stream.ended || stream.cut, 'closed though the session stayed active').toBe(false);
    gw.clock.advance(59_000);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(stream.ended || stream.cut, 'closed before its absolute deadline').toBe(false);
    await endsWithin1s(stream, async () => gw.clock.advance(1000));
  });
});
