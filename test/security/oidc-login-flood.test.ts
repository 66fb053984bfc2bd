import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sleep } from '../helpers/attack.js';
import { call } from '../helpers/http.js';
import { startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Login-state and audit flooding: GET /auth/oidc/login is public and stores a login state per
 * request; a callback with a bad state is answered to anyone. A script repeating either must not
 * grow the store without bound nor write an audit row per request. SPEC §9: a login state lives 10
 * minutes (the housekeeping deletes it then); SPEC §6: a refusal a client can repeat at will is
 * audited at most once per address, reason and minute. (A `limits` rule caps the rate itself.)
 */
describe('a client that begins logins and never finishes them, and sends bad callbacks', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  const storedStates = (): number => {
    const db = new Database(join(world.gw.dir, 'gatehouse.db'), { readonly: true });
    try {
      return db.prepare('SELECT count(*) FROM oidc_login_states').pluck().get() as number;
    } finally {
      db.close();
    }
  };

  test('abandoned login states are deleted by the housekeeping once their 10 minutes are over', async () => {
    world.gw.clock.set(Date.now());
    for (let i = 0; i < 100; i += 1) expect((await call(world.gw.url, '/auth/oidc/login?provider=corp', { csrf: false })).status).toBe(303);
    expect(storedStates()).toBe(100);
    world.gw.clock.advance(10 * 60_000 - 1);
    await world.gw.gateway.housekeep();
    expect(storedStates(), 'not before').toBe(100);
    world.gw.clock.advance(1);
    await world.gw.gateway.housekeep();
    expect(storedStates()).toBe(0);
  });

  test('100 callbacks with forged states from one address: 100 refusals, one audit row per minute', async () => {
    const before = (await world.gw.gateway.services.store.audit.recent(1000)).filter((e) => e.type === 'oidc_login_failed').length;
    for (let i = 0; i < 100; i += 1) {
      const reply = await call(world.gw.url, `/auth/oidc/callback/corp?code=c&state=forged-${i}`, { csrf: false, headers: { cookie: 'gatehouse-oidc=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
      expect(reply.status).toBe(400);
    }
    await sleep(200);
    const after = (await world.gw.gateway.services.store.audit.recent(1000)).filter((e) => e.type === 'oidc_login_failed');
    expect(after.length - before).toBe(1);
    expect(after[0]).toMatchObject({ user: null, detail: { provider: 'corp', code: 'oidc_state_invalid' } });
  });
});
