import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { realTimeLogoutClaims, signLogoutToken } from '../helpers/logout-token.js';
import { loginThrough, startOidcWorkers, type OidcWorkers } from '../helpers/oidc-processes.js';
import { poll } from '../helpers/processes.js';

/**
 * SPEC §9 "the sessions of that provider session end at once" and §8 "revocation stays immediate",
 * across the two workers of `serve` (server.workers: 2, SQLite): each worker remembers the session
 * (session memory), the logout token reaches one of them, and the very next requests, on fresh
 * connections that the workers take in turn, are all refused, by both workers.
 */

let world: OidcWorkers;

function pidsOf(from: number, path: string): Set<number | undefined> {
  return new Set(world.serve.output().slice(from).split('\n').filter((l) => l.includes(path)).map((l) => (JSON.parse(l) as { pid?: number }).pid));
}

beforeAll(async () => {
  // The provider puts `sid` in the ID token of a client registered for back-channel logout.
  world = await startOidcWorkers({ name: 'backchannel-workers', backchannelLogout: true });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('back-channel logout with server.workers: 2 (SPEC §9, issue 13 item 7)', () => {
  it('a logout token received by one worker: the very next requests, on both workers, are refused', async () => {
    const { dir, provider, serve, fresh } = world;
    const session = await loginThrough(provider, 'sub-user', fresh);

    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    let target: { sid: string | null; sub: string; issuer: string };
    try {
      const [record] = await store.sessions.list({ userName: 'corp.alice' });
      const oidc = (await store.oidc.getSession(record!.handle))!;
      target = { sid: oidc.sid, sub: oidc.subject, issuer: oidc.issuer };
    } finally {
      await store.close();
    }
    expect(target.sid).toBeTruthy();

    // Both workers know the session (and remember it: their next answer would come from memory).
    const warmFrom = serve.output().length;
    for (let i = 0; i < 6; i++) expect((await fresh(`/auth/session?warm=${i}`, { session })).status).toBe(200);
    await poll(async () => {
      if (pidsOf(warmFrom, '/auth/session').size < 2) throw new Error('not both workers yet');
    });

    const logFrom = serve.output().length;
    const posted = await fresh('/auth/oidc/backchannel-logout/corp', {
      method: 'POST',
      csrf: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: await signLogoutToken({ provider }, realTimeLogoutClaims(target.issuer, target)) }).toString(),
    });
    expect(posted.status, posted.text).toBe(200);
    const next = await Promise.all(Array.from({ length: 6 }, (_, i) => fresh(`/auth/session?next=${i}`, { session })));
    expect(next.map((r) => r.status)).toEqual(Array(6).fill(401));
    await poll(async () => {
      if (pidsOf(logFrom, '/auth/session').size < 2) throw new Error('access log lines still on their way');
    });
  }, 60_000);
});
