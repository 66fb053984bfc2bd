import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRaw, type CliRun } from '../cli/harness.js';
import { freePort, gatehouse, startServe, type ServeProcess } from './processes.js';
import type { TestPostgres } from './postgres.js';
import type { TestRedis } from './redis.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const clusterPassword = 'a long enough password';

export interface ClusterNode {
  serve: ServeProcess;
  base: string;
  configFile: string;
  /** The node's admin listener (SPEC §11), with `admin: true`; null otherwise. */
  admin: string | null;
}

export interface Cluster {
  nodes: [ClusterNode, ClusterNode];
  upstream: TestUpstream;
  /** The built bin in its own process, as an operator runs it (slow: a process per call). */
  cli(args: string[], input?: string): CliRun;
  /** Node a's links to PostgreSQL and Redis, when `relayed` (tcp-relay.ts): cut them to partition it. */
  relays: { postgres: TcpRelay; redis: TcpRelay } | null;
  /** The same command tree in this process (run-cli.ts), against the same configuration: quick. */
  cliInProcess(args: string[], input?: string): Promise<CliRun>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  postgres: TestPostgres;
  redis: TestRedis;
  /** YAML lines added to each node's configuration (limits, login, session). */
  extra?: string[];
  /** More YAML flow items in `upstreams` and `routes`, after the `api` upstream and its `/api/**` route. */
  upstreams?: string[];
  routes?: string[];
  users?: string[];
  /** `store.timeout` (default 5s, generous for a shared machine). */
  storeTimeout?: string;
  /** `cache.timeout` (default: the configuration's, 100ms). */
  cacheTimeout?: string;
  /** Node a reaches PostgreSQL and Redis through relays of its own (node b and the CLI directly). */
  relayed?: boolean;
  /** Each node gets an admin listener (metrics, console) on a port of its own. */
  admin?: boolean;
}

/**
 * A `serve` configuration's `upstreams` and `routes` lines: the upstream `api` at `upstreamUrl` with
 * a bearer secret (`api-token`), `/api/**` routed to it, then the given items (YAML flow).
 */
export function apiLines(upstreamUrl: string, more: { upstreams?: string[]; routes?: string[] } = {}): string[] {
  return [
    `upstreams: [${[`{ name: api, url: "${upstreamUrl}", credential: { type: bearer, secret: api-token } }`, ...(more.upstreams ?? [])].join(', ')}]`,
    `routes: [${['{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }', ...(more.routes ?? [])].join(', ')}]`,
  ];
}

/** Through `cli`, before `serve` starts: the `api-token` secret that `apiLines` names, and `users` with `password`. */
export async function seedStore(cli: (args: string[], input?: string) => Promise<CliRun>, users: readonly string[], password: string): Promise<void> {
  const setup = await cli(['secret', 'set', 'api-token'], 'the-upstream-token-123');
  if (setup.code !== 0) throw new Error(`secret set failed: ${setup.stderr}`);
  for (const user of users) {
    const added = await cli(['user', 'add', user, '--password-stdin'], `${password}\n`);
    if (added.code !== 0) throw new Error(`user add failed: ${added.stderr}`);
  }
}

/**
 * Two `gatehouse serve` nodes (the built bin) on one PostgreSQL database of their own and one
 * redis-server, with an upstream and `/api/**` routed to it with a bearer secret: SPEC §8's
 * smallest cluster, for tests that revoke, restart and freeze things under it.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const upstream = await startUpstream();
  const url = await options.postgres.createDatabase();
  const prefix = `c${randomBytes(3).toString('hex')}:`;
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const relays = options.relayed
    ? { postgres: await startTcpRelay({ port: Number(new URL(url).port) }), redis: await startTcpRelay({ port: options.redis.port }) }
    : null;
  const via = (address: string, relay: TcpRelay | undefined): string => {
    if (!relay) return address;
    const relayed = new URL(address);
    relayed.port = String(relay.port);
    return relayed.toString();
  };
  const nodes: ClusterNode[] = [];
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const adminPort = options.admin ? await freePort() : null;
    const configFile = join(dir, `${name}.yaml`);
    const relay = name === 'a' ? relays : null;
    writeFileSync(configFile, [
      `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "http://127.0.0.1:${port}" }`,
      `store: { postgres: "${via(url, relay?.postgres)}", timeout: ${options.storeTimeout ?? '5s'} }`,
      `cache: { redis: "${via(options.redis.url, relay?.redis)}", prefix: "${prefix}"${options.cacheTimeout ? `, timeout: ${options.cacheTimeout}` : ''} }`,
      'masterKey: file:./master.key',
      ...apiLines(upstream.url, options),
      ...(adminPort ? [`admin: { host: 127.0.0.1, port: ${adminPort}, publicOrigin: "http://127.0.0.1:${adminPort}" }`] : []),
      ...(options.extra ?? []),
      '',
    ].join('\n'));
    nodes.push({ serve: undefined as unknown as ServeProcess, base: `http://127.0.0.1:${port}`, configFile, admin: adminPort ? `http://127.0.0.1:${adminPort}` : null });
  }
  // The CLI runs beside node b when node a's links are relayed (they may be cut).
  const first = nodes[options.relayed ? 1 : 0]!.configFile;
  const cli = (args: string[], input?: string): CliRun => {
    const result = gatehouse([...args, '--config', first], input === undefined ? {} : { input });
    return { code: result.code ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  const cliInProcess = (args: string[], input?: string): Promise<CliRun> => runRaw([...args, '--config', first], input === undefined ? {} : { stdin: input });
  await seedStore(cliInProcess, options.users ?? [], clusterPassword);
  for (const node of nodes) node.serve = await startServe(node.configFile, Number(new URL(node.base).port));
  return {
    nodes: nodes as [ClusterNode, ClusterNode],
    upstream,
    relays,
    cli,
    cliInProcess,
    async stop() {
      await Promise.all(nodes.map((n) => n.serve?.stop()));
      await upstream.close();
      await relays?.postgres.close();
      await relays?.redis.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
