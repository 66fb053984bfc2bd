import { describe, expect, it } from 'vitest';
import { windowBuckets } from '../../src/rules/bucket-window.js';
import { call, fromAddress, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

const rule = (name: string, match: unknown, rest: Record<string, unknown>) => ({ name, match, per: '10s', ...rest });

const env = useGateway({
  users: [{ name: 'alice' }, { name: 'bob' }, { name: 'carol' }, { name: 'dave' }, { name: 'erin' }],
  config: {
    routes: [{ path: '/api/**', methods: ['GET', 'POST'], upstream: 'api', stripPrefix: '/api' }],
    limits: [
      rule('reject-per-session', '/api/reject/**', { by: 'session', max: 3, action: 'reject' }),
      rule('window', '/api/window/**', { by: 'session', max: 5, action: 'reject' }),
      rule('block-per-ip', '/api/block/**', { by: 'ip', max: 2, per: '1m', action: 'block', for: '5m' }),
      rule('revoke-per-session', '/api/revoke/**', { by: 'session', max: 2, per: '1m', action: 'revoke' }),
      rule('respond-per-user', { path: '/api/respond/**', methods: ['POST'] }, { by: 'user', max: 1, per: '1m', action: 'respond', respond: { status: 200, body: { ok: false, reason: 'slow down' }, headers: { 'X-Gatehouse-Rule': 'respond' } } }),
      rule('probing', { path: '/api/probe/**', status: 404 }, { by: 'session', max: 2, action: 'revoke' }),
      rule('errors-per-ip', { path: '/api/fail/**', status: ['5xx'] }, { by: 'ip', max: 1, action: 'reject' }),
      rule('per-user', '/api/user/**', { by: 'user', max: 2, per: '1m', action: 'reject' }),
      rule('block-per-user', '/api/ublock/**', { by: 'user', max: 1, per: '1m', action: 'block', for: '1m' }),
      rule('block-short', '/api/bshort/**', { by: 'ip', max: 2, per: '1m', action: 'block', for: '10s' }),
    ],
  },
});

/**
 * Moves the shared clock to the next multiple of 10 s: the rules count in buckets of 1/60 of their
 * window (src/rules/bucket-window.ts), so from a bucket's start each margin below is exact.
 */
const alignClock = (): void => env.gw.clock.set(Math.ceil(env.gw.clock.now() / 10_000) * 10_000);
/** One bucket of a 10 s window, rounded up to the millisecond. */
const bucket10s = Math.ceil(10_000 / windowBuckets);

const triggered = async (name: string) => (await env.gw.gateway.services.store.audit.recent(500)).filter((e) => e.type === 'rate_limit_triggered' && e.detail.rule === name);

describe('reject', () => {
  it('answers max + 1 with 429 rate_limited and an accurate Retry-After, forwarding nothing', async () => {
    const cookie = await login(env.gw.url, 'alice');
    alignClock();
    for (let i = 0; i < 3; i += 1) expect((await call(env.gw.url, '/api/reject/x', { session: cookie })).status).toBe(200);
    env.gw.clock.advance(4_000);
    const refused = await call(env.gw.url, '/api/reject/x', { session: cookie });
    expect(refused.status).toBe(429);
    expect(refused.json().error.code).toBe('rate_limited');
    // The three leave the window with their bucket: 6 s and one bucket (167 ms) from now, rounded up.
    expect(refused.headers['retry-after']).toBe('7');
    expect(env.upstream.seen).toHaveLength(3);
    env.gw.clock.advance(6_000 + bucket10s - 1);
    expect((await call(env.gw.url, '/api/reject/x', { session: cookie })).status).toBe(429);
    env.gw.clock.advance(1);
    expect((await call(env.gw.url, '/api/reject/x', { session: cookie })).status).toBe(200);
  });

  it('is a true sliding window: max at the end of one window and max at the start of the next do not both pass', async () => {
    const cookie = await login(env.gw.url, 'alice');
    alignClock();
    env.gw.clock.advance(9_000);
    for (let i = 0; i < 5; i += 1) expect((await call(env.gw.url, '/api/window/a', { session: cookie })).status).toBe(200);
    env.gw.clock.advance(2_000);
    for (let i = 0; i < 5; i += 1) {
      const reply = await call(env.gw.url, '/api/window/a', { session: cookie });
      expect(reply.status).toBe(429);
      // 8 s until the five's bucket would leave an exact window, plus the bucket: 8.167 s, rounded up.
      expect(reply.headers['retry-after']).toBe('9');
    }
    env.gw.clock.advance(8_000 + bucket10s - 1);
    expect((await call(env.gw.url, '/api/window/a', { session: cookie })).status).toBe(429);
    env.gw.clock.advance(1);
    for (let i = 0; i < 5; i += 1) expect((await call(env.gw.url, '/api/window/a', { session: cookie })).status).toBe(200);
    expect((await call(env.gw.url, '/api/window/a', { session: cookie })).status).toBe(429);
  });

  it('counts by user across sessions, and writes one audit event per trigger', async () => {
    const one = await login(env.gw.url, 'bob');
    const two = await login(env.gw.url, 'bob');
    expect((await call(env.gw.url, '/api/user/x', { session: one })).status).toBe(200);
    expect((await call(env.gw.url, '/api/user/x', { session: two })).status).toBe(200);
    for (let i = 0; i < 10; i += 1) expect((await call(env.gw.url, '/api/user/x', { session: i % 2 ? one : two })).status).toBe(429);
    const other = await login(env.gw.url, 'carol');
    expect((await call(env.gw.url, '/api/user/x', { session: other })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const events = await triggered('per-user');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ user: 'bob', ip: '127.0.0.1', detail: { rule: 'per-user', by: 'user', action: 'reject' } });
  });
});

describe('block', () => {
  it('refuses the address everywhere but the health probes for `for`, then lets it back', async () => {
    const client = fromAddress('127.0.0.9');
    const bystander = fromAddress('127.0.0.10');
    const cookie = await login(env.gw.url, 'dave', undefined, client);
    expect((await call(env.gw.url, '/api/block/x', { session: cookie, dispatcher: client })).status).toBe(200);
    expect((await call(env.gw.url, '/api/block/x', { session: cookie, dispatcher: client })).status).toBe(200);
    const blocked = await call(env.gw.url, '/api/block/x', { session: cookie, dispatcher: client });
    expect(blocked.status).toBe(403);
    expect(blocked.json().error.code).toBe('blocked');
    for (const path of ['/api/other', '/auth/session', '/']) {
      expect((await call(env.gw.url, path, { session: cookie, dispatcher: client })).status, path).toBe(403);
    }
    expect((await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'dave', password: 'x' }, dispatcher: client })).status).toBe(403);
    expect((await call(env.gw.url, '/healthz', { dispatcher: client })).status).toBe(200);
    expect((await call(env.gw.url, '/readyz', { dispatcher: client })).status).toBe(200);
    expect((await call(env.gw.url, '/api/block/x', { session: await login(env.gw.url, 'carol', undefined, bystander), dispatcher: bystander })).status).toBe(200);
    env.gw.clock.advance(5 * 60_000 - 1);
    expect((await call(env.gw.url, '/api/other', { session: cookie, dispatcher: client })).status).toBe(403);
    env.gw.clock.advance(1);
    expect((await call(env.gw.url, '/api/other', { session: cookie, dispatcher: client })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(await triggered('block-per-ip')).toHaveLength(1);
  });
});

describe('block until the window has room', () => {
  it('lasts `for`, and longer while the window is still full, so a client back at Retry-After gets in', async () => {
    const client = fromAddress('127.0.0.12');
    const cookie = await login(env.gw.url, 'dave', undefined, client);
    env.gw.clock.set(Math.ceil(env.gw.clock.now() / 60_000) * 60_000);
    for (let i = 0; i < 2; i += 1) expect((await call(env.gw.url, '/api/bshort/x', { session: cookie, dispatcher: client })).status).toBe(200);
    env.gw.clock.advance(30_000);
    const blocked = await call(env.gw.url, '/api/bshort/x', { session: cookie, dispatcher: client });
    expect(blocked.status).toBe(403);
    // Not 10 s: the two requests leave the 1-minute window with their 1 s bucket, 31 s from now.
    expect(blocked.headers['retry-after']).toBe('31');
    env.gw.clock.advance(31_000 - 1);
    expect((await call(env.gw.url, '/api/elsewhere', { session: cookie, dispatcher: client })).status).toBe(403);
    env.gw.clock.advance(1);
    expect((await call(env.gw.url, '/api/bshort/x', { session: cookie, dispatcher: client })).status).toBe(200);
  });
});

describe('block by user', () => {
  it('refuses every session of the user for `for`, and no one else', async () => {
    const one = await login(env.gw.url, 'erin');
    const two = await login(env.gw.url, 'erin');
    env.gw.clock.set(Math.ceil(env.gw.clock.now() / 60_000) * 60_000);
    expect((await call(env.gw.url, '/api/ublock/x', { session: one })).status).toBe(200);
    const blocked = await call(env.gw.url, '/api/ublock/x', { session: one });
    expect(blocked.status, blocked.text).toBe(403);
    expect(blocked.json().error.code).toBe('blocked');
    expect((await call(env.gw.url, '/api/elsewhere', { session: two })).status).toBe(403);
    expect((await call(env.gw.url, '/api/elsewhere', { session: await login(env.gw.url, 'carol') })).status).toBe(200);
    // `for` is 1m, and the window (1m) frees when the request's 1 s bucket leaves it: 61 s.
    env.gw.clock.advance(61_000 - 1);
    expect((await call(env.gw.url, '/api/elsewhere', { session: two })).status).toBe(403);
    env.gw.clock.advance(1);
    expect((await call(env.gw.url, '/api/elsewhere', { session: two })).status).toBe(200);
  });
});

describe('revoke', () => {
  it('ends the session on the request that would be max + 1', async () => {
    const cookie = await login(env.gw.url, 'alice');
    expect((await call(env.gw.url, '/api/revoke/x', { session: cookie })).status).toBe(200);
    expect((await call(env.gw.url, '/api/revoke/x', { session: cookie })).status).toBe(200);
    const revoked = await call(env.gw.url, '/api/revoke/x', { session: cookie });
    expect(revoked.status).toBe(401);
    expect(revoked.cookie).toBeNull();
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(401);
    expect(env.upstream.seen).toHaveLength(2);
    const events = await env.gw.gateway.services.store.audit.recent(20);
    expect(events.some((e) => e.type === 'session_revoked' && e.detail.reason === 'rate_rule:revoke-per-session')).toBe(true);
  });

  it('a status rule: three upstream 404s in 10 s end the session; the third is still delivered', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"missing":true}');
    });
    const cookie = await login(env.gw.url, 'carol');
    for (let i = 0; i < 3; i += 1) {
      const reply = await call(env.gw.url, `/api/probe/${i}`, { session: cookie });
      expect(reply.status).toBe(404);
      expect(reply.json()).toEqual({ missing: true });
    }
    await new Promise((r) => setTimeout(r, 50));
    env.upstream.handle(null);
    expect((await call(env.gw.url, '/api/probe/ok', { session: cookie })).status).toBe(401);
  });

  it('a status rule whose 404s leave the window does not trigger', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    const cookie = await login(env.gw.url, 'carol');
    // Spaced so that no window of 10 s and one bucket holds three: 2 × 5,100 > 10,000 + 167.
    for (let i = 0; i < 6; i += 1) {
      expect((await call(env.gw.url, '/api/probe/x', { session: cookie })).status).toBe(404);
      env.gw.clock.advance(5_100);
    }
    await new Promise((r) => setTimeout(r, 50));
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
  });
});

describe('respond', () => {
  it('answers with the configured status, body and headers instead of forwarding, for the listed methods only', async () => {
    const cookie = await login(env.gw.url, 'dave');
    expect((await call(env.gw.url, '/api/respond/x', { method: 'POST', session: cookie, body: {} })).json()).toEqual({ ok: true, method: 'POST', url: '/respond/x' });
    const canned = await call(env.gw.url, '/api/respond/x', { method: 'POST', session: cookie, body: {} });
    expect(canned.status).toBe(200);
    expect(canned.json()).toEqual({ ok: false, reason: 'slow down' });
    expect(canned.headers['x-gatehouse-rule']).toBe('respond');
    expect(canned.headers['x-request-id']).toBeTruthy();
    expect((await call(env.gw.url, '/api/respond/x', { session: cookie })).status).toBe(200);
    expect(env.upstream.seen.map((s) => s.method)).toEqual(['POST', 'GET']);
  });
});

describe('status rules by address', () => {
  it('after more than one upstream 5xx from an address, its next requests are rejected until the window frees', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const client = fromAddress('127.0.0.11');
    const cookie = await login(env.gw.url, 'alice', undefined, client);
    expect((await call(env.gw.url, '/api/fail/a', { session: cookie, dispatcher: client })).status).toBe(503);
    expect((await call(env.gw.url, '/api/fail/a', { session: cookie, dispatcher: client })).status).toBe(503);
    await new Promise((r) => setTimeout(r, 50));
    const refused = await call(env.gw.url, '/api/fail/a', { session: cookie, dispatcher: client });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call(env.gw.url, '/api/fail/a', { session: await login(env.gw.url, 'bob') })).status).toBe(503);
    // The window frees when the bucket of the two 503s has left it: at most 10 s and a bucket on.
    env.gw.clock.advance(10_000 + bucket10s);
    expect((await call(env.gw.url, '/api/fail/a', { session: cookie, dispatcher: client })).status).toBe(503);
  });
});

describe('blocks on one SQLite process (SPEC §8 "Speed")', () => {
  it('a proxied request reads no block from the store, and a block set here holds on the next request', async () => {
    const blocks = env.gw.gateway.services.store.blocks;
    const read = blocks.blockedUntil.bind(blocks);
    let reads = 0;
    blocks.blockedUntil = (...args) => {
      reads += 1;
      return read(...args);
    };
    try {
      const client = fromAddress('127.0.0.12');
      const cookie = await login(env.gw.url, 'erin', undefined, client);
      reads = 0;
      // Both the address (block-per-ip) and the user (block-per-user) are looked up on each of these.
      for (let i = 0; i < 10; i += 1) expect((await call(env.gw.url, '/api/other', { session: cookie, dispatcher: client })).status).toBe(200);
      expect(reads).toBe(0);
      expect((await call(env.gw.url, '/api/ublock/x', { session: cookie, dispatcher: client })).status).toBe(200);
      expect((await call(env.gw.url, '/api/ublock/x', { session: cookie, dispatcher: client })).status).toBe(403);
      expect((await call(env.gw.url, '/api/other', { session: cookie, dispatcher: client })).status).toBe(403);
      expect(reads).toBe(0);
    } finally {
      blocks.blockedUntil = read;
    }
  });
});
