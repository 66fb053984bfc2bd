import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { accounts } from '../helpers/oidc-journey.js';
import { loginThrough, startOidcWorkers, type OidcWorkers } from '../helpers/oidc-processes.js';
import { type ProviderAccount } from '../helpers/oidc-provider.js';
import { poll } from '../helpers/processes.js';

/**
 * SPEC §9 "Roles are computed from the claims at every login and refresh", with SPEC §8's memory:
 * each worker of `serve` (server.workers: 2, SQLite) remembers the sessions it served, user and
 * roles included, for up to 30 s (decision 0008). A role the provider took away must not live on in
 * the other worker's memory: a refresh (or a login) that changes the user's roles makes every
 * process forget the user's sessions, through the revocation path, before it answers, so an
 * admin-only route answers 403 at either worker on the very next request. Connections are handed
 * out to the workers in turn; each request below is on a connection of its own, and its access log
 * line tells which worker (pid) answered it. The workers run on the real clock, so the access token
 * is made due by writing its recorded expiry into the past, which only a worker that does not hold
 * the session's tokens in memory (decision 0012) reads.
 */

let world: OidcWorkers;
/** The provider's own copy of the accounts: a test takes a group away from one. */
const own: ProviderAccount[] = accounts.map((a) => ({ ...a, groups: [...(a.groups ?? [])] }));
const ada = own.find((a) => a.sub === 'sub-admin')!;

function login(): Promise<string> {
  return loginThrough(world.provider, 'sub-admin', world.fresh);
}

/** Requests `path` + i on fresh connections, one after another; the pids of the workers that answered them. */
async function inTurn(prefix: string, session: string, count: number): Promise<{ statuses: number[]; pids: Set<number> }> {
  const logFrom = world.serve.output().length;
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await world.fresh(`${prefix}${i}`, { session })).status);
  const lines = (): string[] => world.serve.output().slice(logFrom).split('\n').filter((l) => l.includes(prefix));
  await poll(async () => {
    if (lines().length < count) throw new Error('access log lines still on their way');
  });
  return { statuses, pids: new Set(lines().map((l) => (JSON.parse(l) as { pid: number }).pid)) };
}

interface Answer { status: number; pid: number }

/** Requests `path` (used once) on a fresh connection: its status and the pid of the worker that answered. */
async function answered(path: string, session: string): Promise<Answer> {
  const status = (await world.fresh(path, { session })).status;
  const pid = await poll(async () => {
    const line = world.serve.output().split('\n').find((l) => l.includes(`"path":${JSON.stringify(path)}`));
    if (!line) throw new Error('access log line still on its way');
    return (JSON.parse(line) as { pid: number }).pid;
  });
  return { status, pid };
}

/**
 * Requests `prefix` + i, one fresh connection each, until one lands on a worker `wanted`: every
 * answer, that one last. Connections go to the workers in turn, so it takes one or two; the bound only
 * turns a surprise into a failure instead of a hang.
 */
async function until(wanted: (pid: number) => boolean, prefix: string, session: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < 6; i++) {
    answers.push(await answered(`${prefix}${i}`, session));
    if (wanted(answers.at(-1)!.pid)) return answers;
  }
  throw new Error(`no request under ${prefix} reached the wanted worker: ${JSON.stringify(answers)}`);
}

beforeAll(async () => {
  world = await startOidcWorkers({ name: 'role-change-workers', provider: { accounts: own, ttl: { accessToken: 60, idToken: 3600 } }, yaml: { admin: true } });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('a role change reaches every worker at once (SPEC §8, §9; issue 13 items 3 and 6)', () => {
  it('a refresh in one worker that removes admin: the admin-only route answers 403 at the other worker, which remembered the session as admin, on its very next request', async () => {
    const { dir, provider, fresh } = world;
    ada.groups = ['gatehouse-admins'];
    const session = await login();
    // Logging in remembers nothing, so only the worker that answers this (B) remembers the session,
    // as admin, with its tokens.
    const remembered = await answered('/admin/before', session);
    expect(remembered.status).toBe(200);
    const b = remembered.pid;

    ada.groups = [];
    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    try {
      const [record] = await store.sessions.list({ userName: 'corp.ada' });
      const oidc = (await store.oidc.getSession(record!.handle))!;
      await store.oidc.putSession({ ...oidc, accessExpiresAt: Date.now() - 1_000 });
      const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
      // The other worker (A) has not remembered the session: it reads the store, finds the access
      // token due and refreshes. A request that lands on B first is answered from B's memory, where
      // the token is still fresh, and refreshes nothing.
      const refreshed = await until((pid) => pid !== b, '/orders/refresh/', session);
      expect(refreshed.map((a) => a.status)).toEqual(refreshed.map(() => 200));
      expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);
      expect((await store.users.get('corp.ada'))!.roles).toEqual(['user']);
    } finally {
      await store.close();
    }

    // B's very next request (any that lands on A before it is A's, and must be refused too).
    const atB = await until((pid) => pid === b, '/admin/after-b/', session);
    expect(atB.map((a) => a.status)).toEqual(atB.map(() => 403));
    const atA = await until((pid) => pid !== b, '/admin/after-a/', session);
    expect(atA.map((a) => a.status)).toEqual(atA.map(() => 403));
    // Forgotten, not ended: the session goes on with the roles it has now.
    expect((await fresh('/orders/still', { session })).status).toBe(200);
  }, 60_000);

  it('a login that removes admin: the same user\'s other session answers 403 at both workers on the very next requests', async () => {
    ada.groups = ['gatehouse-admins'];
    const first = await login();
    const before = await inTurn('/admin/first/', first, 4);
    expect(before.statuses).toEqual([200, 200, 200, 200]);
    expect(before.pids.size).toBe(2);

    ada.groups = [];
    await login();
    const after = await inTurn('/admin/second/', first, 4);
    expect(after.statuses).toEqual([403, 403, 403, 403]);
    expect(after.pids.size).toBe(2);
  }, 60_000);
});
