import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionStore } from '../../src/sessions/session-store.js';
import { sha256Hex } from '../../src/security/hash.js';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { startSecondGateway } from '../helpers/second-gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Session activity is written behind (sessions/session-service.ts): within 250 ms, in one
 * transaction for every session active meanwhile. What must still hold: the gateway that saw the
 * request is exact about idle timeouts at once; another gateway on the same store is, once the
 * batch is written; and stopping writes what is pending.
 */
const minute = 60_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `stopsItself`: the test stops the gateway; only its directory is left to remove. */
async function gatewayWithUpstream(stopsItself = false): Promise<{ gw: TestGateway; upstream: TestUpstream }> {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'alice', roles: ['user'] }] });
  cleanups.push(stopsItself ? async () => rmSync(gw.dir, { recursive: true, force: true }) : () => gw.close());
  return { gw, upstream };
}

/** The stored lastSeenAt of the session behind a cookie, read through a connection of its own. */
async function storedLastSeen(gw: TestGateway, cookie: string): Promise<number | undefined> {
  const store = openSqliteStore(join(gw.dir, 'gatehouse.db'));
  try {
    return (await (store.sessions as SessionStore).get(sha256Hex(cookie.slice(cookie.indexOf('=') + 1))))?.lastSeenAt;
  } finally {
    await store.close();
  }
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 3_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('session activity, written behind', () => {
  it('reaches the store within the flush interval, where another gateway on the same store honours it', async () => {
    const { gw } = await gatewayWithUpstream();
    const second = await startSecondGateway(gw);
    cleanups.push(() => second.close());
    const cookie = await login(gw.url, 'alice');
    const loginTime = gw.clock.now();

    gw.clock.advance(29 * minute);
    expect((await call(gw.url, '/api/things', { session: cookie })).status).toBe(200);
    const activeAt = gw.clock.now();
    expect(await eventually(() => storedLastSeen(gw, cookie), (at) => at === activeAt)).toBe(activeAt);

    // 58 minutes after login, 29 after the activity the first gateway saw: alive on the second.
    gw.clock.advance(29 * minute);
    expect(activeAt - loginTime).toBe(29 * minute);
    expect((await call(second.url, '/api/things', { session: cookie })).status).toBe(200);
  });

  it('is written when the gateway stops, however recent', async () => {
    const { gw } = await gatewayWithUpstream(true);
    const cookie = await login(gw.url, 'alice');
    gw.clock.advance(10 * minute);
    expect((await call(gw.url, '/api/things', { session: cookie })).status).toBe(200);
    const activeAt = gw.clock.now();
    await gw.gateway.stop();
    expect(await storedLastSeen(gw, cookie)).toBe(activeAt);
  });

  it('a failed write is logged (by error name and code, never the driver\'s message), kept and written on a later attempt', async () => {
    const { gw } = await gatewayWithUpstream();
    const cookie = await login(gw.url, 'alice');
    const store = gw.gateway.services.store.sessions;
    const original = store.touchAll.bind(store);
    let failures = 1;
    store.touchAll = async (activity) => {
      // A driver's message can name the connection string; the log must not repeat it.
      if (failures-- > 0) throw Object.assign(new Error('connect ECONNREFUSED postgres://gatehouse:s3cret-pw@db.internal:5432/gh'), { code: 'ECONNREFUSED' });
      return original(activity);
    };
    try {
      gw.clock.advance(5 * minute);
      expect((await call(gw.url, '/api/things', { session: cookie })).status).toBe(200);
      const activeAt = gw.clock.now();
      expect(await eventually(() => storedLastSeen(gw, cookie), (at) => at === activeAt)).toBe(activeAt);
      expect(gw.logs()).toContain('could not record session activity; retrying');
      expect(gw.logs()).toContain('ECONNREFUSED');
      expect(gw.logs()).not.toContain('s3cret-pw');
      expect(gw.logs()).not.toContain('db.internal');
    } finally {
      store.touchAll = original;
    }
  });
});
