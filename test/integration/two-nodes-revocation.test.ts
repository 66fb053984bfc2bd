import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPassword as password, startCluster, type Cluster } from '../helpers/cluster.js';
import { call, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

/**
 * SPEC §8, "Revocation stays immediate", every path but logout (two-nodes.test.ts runs 200 rounds of
 * it, and single rounds of CLI revoke and lock): made on one node, or by the CLI, the revoked session
 * is refused on the very next request to the other node, and to the first. Each round logs in
 * afresh on one node and has the other node serve the session first, so a node that kept sessions
 * in memory would be holding it when the revocation comes. Nodes alternate from round to round.
 *
 * The CLI paths run the built bin (a process per command, as an operator would) for the first
 * `builtRounds` rounds of each, and the same command tree in this process (cli/run-cli.ts against
 * the same configuration and store) for the rest: a process per round would take minutes.
 */

const postgres = usePostgres();
const redis = useRedis();
const httpRounds = 60;
const cliRounds = 30;
const builtRounds = 3;
let cluster: Cluster;
let a: string;
let b: string;

const cliUsers = ['cut-off', 'by-id', 'by-user', 'by-all', 'locked', 'removed', 'passwd', 'reset', 'mfa'];

beforeAll(async () => {
  cluster = await startCluster({
    postgres: postgres.server,
    redis: redis.server,
    users: ['changer', 'tripper', ...cliUsers],
    extra: ['limits: [{ name: tripwire, match: /api/trip/**, by: session, max: 1, per: 1m, action: revoke }]'],
  });
  [a, b] = cluster.nodes.map((n) => n.base) as [string, string];
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

const proxied = async (base: string, cookie: string) => (await call(base, '/api/x', { session: cookie })).status;
/** [node that logs in and revokes, the other] for round `i`. */
const sides = (i: number): [string, string] => (i % 2 === 0 ? [a, b] : [b, a]);

/** A fresh session on `here`, already served by `there`. */
async function liveSession(here: string, there: string, user: string, pw = password): Promise<string> {
  const cookie = await login(here, user, pw);
  expect(await proxied(there, cookie)).toBe(200);
  return cookie;
}

/** After a revocation: refused on the very next request to `there`, then to `here`. */
async function expectRefusedOnBoth(here: string, there: string, cookie: string, label: string): Promise<void> {
  expect(await proxied(there, cookie), `${label}: the other node`).toBe(401);
  expect(await proxied(here, cookie), `${label}: the revoking node`).toBe(401);
}

async function runCli(round: number, args: string[], input?: string): Promise<void> {
  const result = round < builtRounds ? cluster.cli(args, input) : await cluster.cliInProcess(args, input);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
}

describe('every revocation path across two nodes (SPEC §8)', () => {
  it(`a password change (/auth/password) on one node ends the user's other sessions on the other: ${httpRounds} rounds, no miss`, async () => {
    const passwords = [password, `${password} again`];
    for (let i = 0; i < httpRounds; i++) {
      const [here, there] = sides(i);
      const [current, next] = [passwords[i % 2]!, passwords[(i + 1) % 2]!];
      const victim = await liveSession(here, there, 'changer', current);
      const changer = await login(here, 'changer', current);
      const changed = await call(here, '/auth/password', { method: 'POST', session: changer, body: { currentPassword: current, newPassword: next } });
      expect(changed.status, `round ${i}: ${changed.text}`).toBe(204);
      await expectRefusedOnBoth(here, there, victim, `round ${i}`);
      // The changer's own session moved to a new id; the old one is refused too.
      expect(await proxied(there, changer), `round ${i}: the changer's old id`).toBe(401);
      expect(await proxied(there, changed.cookie!), `round ${i}: the changer's new id`).toBe(200);
    }
  }, 300_000);

  it(`a revoke rule tripped on one node: the session is refused on the other at once, ${httpRounds} rounds, no miss`, async () => {
    for (let i = 0; i < httpRounds; i++) {
      const [here, there] = sides(i);
      const cookie = await liveSession(here, there, 'tripper');
      expect((await call(here, '/api/trip/1', { session: cookie })).status, `round ${i}: within max`).toBe(200);
      expect((await call(here, '/api/trip/2', { session: cookie })).status, `round ${i}: the tripping request`).toBe(401);
      await expectRefusedOnBoth(here, there, cookie, `round ${i}`);
    }
  }, 300_000);

  const cliPaths: { name: string; user: string; revoke: (round: number, user: string, cookie: string) => Promise<void>; restore?: (round: number, user: string) => Promise<void> }[] = [
    {
      name: 'session revoke ID',
      user: 'by-id',
      revoke: async (round, user) => {
        const listed = await cluster.cliInProcess(['session', 'list', '--user', user, '--json']);
        const [session, ...others] = JSON.parse(listed.stdout) as { id: string }[];
        expect(others).toEqual([]);
        await runCli(round, ['session', 'revoke', session!.id]);
      },
    },
    { name: 'session revoke --user', user: 'by-user', revoke: (round, user) => runCli(round, ['session', 'revoke', '--user', user]) },
    { name: 'session revoke --all', user: 'by-all', revoke: (round) => runCli(round, ['session', 'revoke', '--all']) },
    {
      name: 'user lock',
      user: 'locked',
      revoke: (round, user) => runCli(round, ['user', 'lock', user]),
      restore: (round, user) => runCli(round, ['user', 'unlock', user]),
    },
    {
      name: 'user remove',
      user: 'removed',
      revoke: (round, user) => runCli(round, ['user', 'remove', user]),
      restore: (round, user) => runCli(round, ['user', 'add', user, '--password-stdin'], `${password}\n`),
    },
    { name: 'user passwd', user: 'passwd', revoke: (round, user) => runCli(round, ['user', 'passwd', user, '--password-stdin'], `${password}\n`) },
    {
      name: 'user require-reset',
      user: 'reset',
      revoke: (round, user) => runCli(round, ['user', 'require-reset', user]),
      restore: (round, user) => runCli(round, ['user', 'passwd', user, '--password-stdin'], `${password}\n`),
    },
    { name: 'user mfa-reset', user: 'mfa', revoke: (round, user) => runCli(round, ['user', 'mfa-reset', user]) },
  ];

  for (const path of cliPaths) {
    it(`${path.name} from the CLI: refused on the very next request to either node, ${cliRounds} rounds (${builtRounds} with the built bin), no miss`, async () => {
      for (let i = 0; i < cliRounds; i++) {
        const [here, there] = sides(i);
        const cookie = await liveSession(here, there, path.user);
        // Served by both nodes before the revocation.
        expect(await proxied(here, cookie)).toBe(200);
        await path.revoke(i, path.user, cookie);
        // The CLI is beside both nodes: alternate which one hears the next request first.
        await expectRefusedOnBoth(here, there, cookie, `${path.name}, round ${i}`);
        await path.restore?.(i, path.user);
      }
    }, 300_000);
  }

  // SPEC §8: "A node that loses the channel stops answering from memory at once and asks the store
  // until it has caught up with the revocation log". Both nodes' subscriber connections are killed
  // (CLIENT KILL TYPE pubsub), then a revocation is made at once, before they can re-subscribe: the
  // `revoked` message reaches no one, yet the next request to either node is refused.
  it(`the channel's subscriber connections killed, then an immediate revoke from the CLI: refused on both nodes, ${cliRounds} rounds, no miss`, async () => {
    for (let i = 0; i < cliRounds; i++) {
      const [here, there] = sides(i);
      const cookie = await liveSession(here, there, 'cut-off');
      expect(await proxied(here, cookie)).toBe(200);
      await redis.server.killSubscribers();
      await runCli(builtRounds, ['session', 'revoke', '--user', 'cut-off']);
      await expectRefusedOnBoth(here, there, cookie, `round ${i}`);
    }
  }, 300_000);

  // The same fault, the revocation made over HTTP on the other node (issue 12: "the channel's
  // connection killed, then an immediate revoke"): the node that served the session last hears
  // nothing of the logout, and must not answer from its memory.
  it(`the channel's subscriber connections killed, then an immediate logout on the other node: refused on the very next request to the first, ${cliRounds} rounds, no miss`, async () => {
    for (let i = 0; i < cliRounds; i++) {
      const [here, there] = sides(i);
      const cookie = await liveSession(there, here, 'cut-off');
      expect(await proxied(here, cookie)).toBe(200);
      await redis.server.killSubscribers();
      expect((await call(there, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204);
      expect(await proxied(here, cookie), `round ${i}: the node whose subscriber was killed`).toBe(401);
      expect(await proxied(there, cookie), `round ${i}: the node that logged out`).toBe(401);
    }
  }, 300_000);
});
