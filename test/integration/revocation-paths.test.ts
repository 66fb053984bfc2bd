import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Revocation } from '../../src/cluster/revocation-log.js';
import { runRaw } from '../cli/harness.js';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §8 "Revocation stays immediate" names every way a session is revoked; each must go through
 * the one path that commits the deletion with its revocation log entry (and announces it), or a
 * node remembering the session would never hear of it. One test per path: after it, the log holds
 * the entry naming what was revoked. The CLI runs in-process on the gateway's own SQLite file, as
 * `gatehouse` beside a running `serve` would.
 */
let upstream: TestUpstream;
let gw: TestGateway;
let from = 0;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({
    upstreamUrl: upstream.url,
    users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'].map((name) => ({ name })),
    config: { limits: [{ name: 'tripwire', match: '/api/tripwire/**', by: 'session', max: 1, per: '1m', action: 'revoke' }] },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(async () => {
  from = await gw.gateway.services.store.revocations.latestSeq();
});

/** The entries appended since the test began, without their times. */
async function logged(): Promise<Omit<Revocation, 'at'>[]> {
  const { revocations } = await gw.gateway.services.store.revocations.since(from);
  return revocations.map(({ seq, scope, subject }) => ({ seq, scope, subject }));
}

async function handleOf(cookie: string): Promise<string> {
  const { sessions } = (await call(gw.url, '/auth/sessions', { session: cookie })).json() as { sessions: { id: string; current: boolean }[] };
  return sessions.find((s) => s.current)!.id;
}

function cli(...args: string[]) {
  return runRaw([...args, '--config', join(gw.dir, 'gatehouse.yaml')], { stdin: `${PASSWORD}\n` });
}

describe('every revocation path appends to the revocation log (SPEC §8)', () => {
  it('logout', async () => {
    const cookie = await login(gw.url, 'alice');
    const handle = await handleOf(cookie);
    expect((await call(gw.url, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'session', subject: handle }]);
  });

  it('gatehouse session revoke ID', async () => {
    const handle = await handleOf(await login(gw.url, 'alice'));
    expect((await cli('session', 'revoke', handle)).code).toBe(0);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'session', subject: handle }]);
  });

  it('gatehouse session revoke --user', async () => {
    await login(gw.url, 'alice');
    expect((await cli('session', 'revoke', '--user', 'alice')).code).toBe(0);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'user', subject: 'alice' }]);
  });

  it('gatehouse session revoke --all', async () => {
    await login(gw.url, 'alice');
    expect((await cli('session', 'revoke', '--all')).code).toBe(0);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'all', subject: null }]);
  });

  for (const [command, user] of [['lock', 'bob'], ['passwd', 'carol'], ['require-reset', 'dave'], ['mfa-reset', 'erin'], ['remove', 'frank']] as const) {
    it(`gatehouse user ${command}`, async () => {
      const cookie = await login(gw.url, user);
      const args = command === 'passwd' ? ['user', command, user, '--password-stdin'] : ['user', command, user];
      const run = await cli(...args);
      expect(run.code, run.stderr).toBe(0);
      expect(await logged()).toEqual([{ seq: from + 1, scope: 'user', subject: user }]);
      expect((await call(gw.url, '/api/x', { session: cookie })).status).toBe(401);
    });
  }

  it('a password change: the other sessions by user, and the current id rotated away', async () => {
    const cookie = await login(gw.url, 'grace');
    const handle = await handleOf(cookie);
    await login(gw.url, 'grace');
    const changed = await call(gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: PASSWORD, newPassword: 'another long enough password' } });
    expect(changed.status).toBe(204);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'user', subject: 'grace' }, { seq: from + 2, scope: 'session', subject: handle }]);
  });

  it('a revoke rule', async () => {
    const cookie = await login(gw.url, 'alice');
    const handle = await handleOf(cookie);
    expect((await call(gw.url, '/api/tripwire/a', { session: cookie })).status).toBe(200);
    expect((await call(gw.url, '/api/tripwire/b', { session: cookie })).status).toBe(401);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'session', subject: handle }]);
  });

  it("the user's own: revoke one session, revoke the others", async () => {
    const current = await login(gw.url, 'alice');
    const other = await handleOf(await login(gw.url, 'alice'));
    expect((await call(gw.url, `/auth/sessions/${other}`, { method: 'DELETE', session: current })).status).toBe(204);
    await login(gw.url, 'alice');
    expect((await call(gw.url, '/auth/sessions/revoke-others', { method: 'POST', session: current })).status).toBe(204);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'session', subject: other }, { seq: from + 2, scope: 'user', subject: 'alice' }]);
  });

  it('a login over a live session ends the old one', async () => {
    const cookie = await login(gw.url, 'alice');
    const handle = await handleOf(cookie);
    const again = await call(gw.url, '/auth/login', { method: 'POST', session: cookie, body: { username: 'alice', password: PASSWORD } });
    expect(again.status).toBe(200);
    expect(await logged()).toEqual([{ seq: from + 1, scope: 'session', subject: handle }]);
  });
});

describe('the revocation log is bounded', () => {
  it('housekeeping drops entries older than an hour, keeping the newest', async () => {
    expect((await cli('session', 'revoke', '--user', 'alice')).code).toBe(0);
    expect((await cli('session', 'revoke', '--user', 'bob')).code).toBe(0);
    const latest = await gw.gateway.services.store.revocations.latestSeq();
    await gw.gateway.housekeep();
    expect((await logged()).length).toBeGreaterThanOrEqual(2);
    gw.clock.advance(2 * 60 * 60 * 1000);
    await gw.gateway.housekeep();
    const { revocations, complete } = await gw.gateway.services.store.revocations.since(0);
    expect(revocations.map((r) => r.seq)).toEqual([latest]);
    expect(complete).toBe(false);
  });
});
