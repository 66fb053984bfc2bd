import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callOnFreshConnection, type Call, type Reply } from '../helpers/http.js';
import { startWorkers, workersPassword as password, type Workers } from '../helpers/workers.js';

/**
 * SPEC §8 "Revocation stays immediate" on one machine with SQLite: `server.workers: 2`, each worker
 * answering known sessions from its own memory, no channel between them. Every revocation path,
 * made through one worker or by the CLI beside `serve`, is refused on the very next requests, which
 * go over connections of their own and so reach both workers (node:cluster hands connections out in
 * turn). Each round has the session served by both workers first, so both remember it.
 * The CLI runs in this process (cli/run-cli.ts), as a process of its own on the same file would.
 */

const rounds = 20;
let workers: Workers;

function fresh(path: string, options: Call = {}): Promise<Reply> {
  return callOnFreshConnection(workers.base, path, options);
}

async function cli(args: string[], input?: string): Promise<void> {
  const result = await workers.cli(args, input);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
}

async function freshLogin(username: string, pw = password): Promise<Reply> {
  const reply = await fresh('/auth/login', { method: 'POST', body: { username, password: pw } });
  expect(reply.status, reply.text).toBe(200);
  return reply;
}

/** A new session, served through both workers (four connections, handed out in turn). */
async function liveSession(username: string, pw = password): Promise<string> {
  const cookie = (await freshLogin(username, pw)).cookie!;
  for (let i = 0; i < 4; i++) expect((await fresh('/api/x', { session: cookie })).status).toBe(200);
  return cookie;
}

/** The very next requests, on four connections (both workers, twice), are all refused. */
async function expectRefused(cookie: string, label: string): Promise<void> {
  for (let i = 0; i < 4; i++) expect((await fresh('/api/x', { session: cookie })).status, `${label}, request ${i}`).toBe(401);
}

beforeAll(async () => {
  workers = await startWorkers({
    users: ['by-id', 'by-user', 'by-all', 'locked', 'removed', 'passwd', 'reset', 'mfa', 'outgoing', 'changer', 'tripper'],
    extra: [
      'limits: [{ name: tripwire, match: /api/trip/**, by: session, max: 1, per: 1m, action: revoke }]',
      'login: { maxFailures: 1000, backoff: 1s, maxBackoff: 1s, perIp: { max: 100000, per: 1m } }',
    ],
  });
}, 120_000);

afterAll(async () => {
  await workers?.stop();
});

describe(`every revocation path with server.workers: 2 on SQLite: the very next request to either worker is refused, ${rounds} rounds each, no miss`, () => {
  it('logout', async () => {
    for (let i = 0; i < rounds; i++) {
      const cookie = await liveSession('outgoing');
      expect((await fresh('/auth/logout', { method: 'POST', session: cookie })).status).toBe(204);
      await expectRefused(cookie, `round ${i}`);
    }
  }, 300_000);

  it('a password change ends the other sessions', async () => {
    const passwords = [password, `${password} again`];
    for (let i = 0; i < rounds; i++) {
      const [current, next] = [passwords[i % 2]!, passwords[(i + 1) % 2]!];
      const victim = await liveSession('changer', current);
      const changer = (await freshLogin('changer', current)).cookie!;
      const changed = await fresh('/auth/password', { method: 'POST', session: changer, body: { currentPassword: current, newPassword: next } });
      expect(changed.status, changed.text).toBe(204);
      await expectRefused(victim, `round ${i}`);
    }
  }, 300_000);

  it('a revoke rule', async () => {
    for (let i = 0; i < rounds; i++) {
      const cookie = await liveSession('tripper');
      expect((await fresh('/api/trip/1', { session: cookie })).status).toBe(200);
      expect((await fresh('/api/trip/2', { session: cookie })).status).toBe(401);
      await expectRefused(cookie, `round ${i}`);
    }
  }, 300_000);

  const cliPaths: { name: string; user: string; revoke: (user: string) => Promise<void>; restore?: (user: string) => Promise<void> }[] = [
    {
      name: 'session revoke ID',
      user: 'by-id',
      revoke: async (user) => {
        const listed = await workers.cli(['session', 'list', '--user', user, '--json']);
        const [session] = JSON.parse(listed.stdout) as { id: string }[];
        await cli(['session', 'revoke', session!.id]);
      },
    },
    { name: 'session revoke --user', user: 'by-user', revoke: (user) => cli(['session', 'revoke', '--user', user]) },
    { name: 'session revoke --all', user: 'by-all', revoke: () => cli(['session', 'revoke', '--all']) },
    { name: 'user lock', user: 'locked', revoke: (user) => cli(['user', 'lock', user]), restore: (user) => cli(['user', 'unlock', user]) },
    { name: 'user remove', user: 'removed', revoke: (user) => cli(['user', 'remove', user]), restore: (user) => cli(['user', 'add', user, '--password-stdin'], `${password}\n`) },
    { name: 'user passwd', user: 'passwd', revoke: (user) => cli(['user', 'passwd', user, '--password-stdin'], `${password}\n`) },
    { name: 'user require-reset', user: 'reset', revoke: (user) => cli(['user', 'require-reset', user]), restore: (user) => cli(['user', 'passwd', user, '--password-stdin'], `${password}\n`) },
    { name: 'user mfa-reset', user: 'mfa', revoke: (user) => cli(['user', 'mfa-reset', user]) },
  ];

  for (const path of cliPaths) {
    it(`${path.name} from the CLI beside serve`, async () => {
      for (let i = 0; i < rounds; i++) {
        const cookie = await liveSession(path.user);
        await path.revoke(path.user);
        await expectRefused(cookie, `${path.name}, round ${i}`);
        await path.restore?.(path.user);
      }
    }, 300_000);
  }
});
