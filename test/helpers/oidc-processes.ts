import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testServer } from './gateway.js';
import { call, callOnFreshConnection, type Call, type Reply } from './http.js';
import { accounts, callbackUrl, CLIENT_ID, CLIENT_SECRET, gatewayPath, loginCookieOf, userTokenYaml } from './oidc-journey.js';
import { completeLogin, startProvider, type TestProvider, type TestProviderOptions } from './oidc-provider.js';
import type { TestPostgres } from './postgres.js';
import { freePort, gatehouse, poll, startServe, type ServeProcess } from './processes.js';
import type { TestRedis } from './redis.js';
import { startUpstream, type TestUpstream } from './upstream.js';

/** Sends one request to `serve` (a path on it, and the call's options). */
export type Send = (path: string, options?: Call) => Promise<Reply>;

export interface OidcProcessesOptions {
  /** Names the temporary folder (gatehouse-NAME-…). */
  name: string;
  /** The provider's options beside its one client (`gatehouse`); `accounts` by default. */
  provider?: Partial<Omit<TestProviderOptions, 'clients'>>;
  /** The `upstreams`, `routes` and `oidc` lines: userTokenYaml's options. */
  yaml?: { exchange?: string; admin?: boolean };
  /**
   * The provider registers `gatehouse` for back-channel logout at the first process (and so puts
   * `sid` in its ID tokens), and `corp` takes logout tokens.
   */
  backchannelLogout?: boolean;
}

interface Parts {
  dir: string;
  provider: TestProvider;
  orders: TestUpstream;
}

/**
 * A real provider, an `orders` upstream and a temporary folder, for `serve` processes at `ports`;
 * their config lines after `server`, `store`, `cache` and `masterKey`. `cleanUp` undoes what was
 * started so far.
 */
async function startParts(options: OidcProcessesOptions, ports: number[], cleanUp: (() => Promise<void>)[]): Promise<Parts & { lines: string[] }> {
  const backchannelLogoutUri = options.backchannelLogout ? `http://127.0.0.1:${ports[0]}/auth/oidc/backchannel-logout/corp` : undefined;
  const provider = await startProvider({
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')], ...(backchannelLogoutUri ? { backchannelLogoutUri } : {}) }],
    accounts,
    ...(options.backchannelLogout ? { backchannelLogout: true } : {}),
    ...options.provider,
  });
  cleanUp.push(() => provider.close());
  const orders = await startUpstream();
  cleanUp.push(() => orders.close());
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-${options.name}-`));
  cleanUp.push(async () => rmSync(dir, { recursive: true, force: true }));
  const lines = userTokenYaml(provider.issuer, orders.url, { ...options.yaml, backchannelLogout: options.backchannelLogout });
  return { dir, provider, orders, lines };
}

/** Runs `cleanUp` last first. */
async function undo(cleanUp: (() => Promise<void>)[]): Promise<void> {
  for (const step of [...cleanUp].reverse()) await step();
}

/** `gatehouse secret set corp-oidc` (the provider's client secret) in the store of `configFile`. */
function storeClientSecret(configFile: string): void {
  const stored = gatehouse(['secret', 'set', 'corp-oidc', '--config', configFile], { input: CLIENT_SECRET });
  if (stored.code !== 0) throw new Error(`secret set exited ${stored.code}: ${stored.stderr}`);
}

export interface OidcWorkers extends Parts {
  /** `serve` with server.workers: 2, on SQLite (gatehouse.db in `dir`). */
  serve: ServeProcess;
  base: string;
  /** A request on a connection of its own (connections are handed out to the workers in turn). */
  fresh: Send;
  close(): Promise<void>;
}

/** One `serve` with two workers (server.workers: 2, SQLite), resolved once both listen. */
export async function startOidcWorkers(options: OidcProcessesOptions): Promise<OidcWorkers> {
  const cleanUp: (() => Promise<void>)[] = [];
  try {
    const port = await freePort();
    const parts = await startParts(options, [port], cleanUp);
    const configFile = join(parts.dir, 'gatehouse.yaml');
    writeFileSync(configFile, [
      `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1], workers: 2 }`,
      'store: { sqlite: ./gatehouse.db }',
      'masterKey: file:./master.key',
      ...parts.lines,
      '',
    ].join('\n'));
    storeClientSecret(configFile);
    const serve = await startServe(configFile, port);
    cleanUp.push(async () => { await serve.stop(); });
    const base = `http://127.0.0.1:${port}`;
    const fresh: Send = (path, callOptions = {}) => callOnFreshConnection(base, path, callOptions);
    await poll(async () => {
      for (let i = 0; i < 4; i++) await fresh('/healthz');
      const pids = new Set(serve.output().split('\n').filter((l) => l.includes('gatehouse listening')).map((l) => (JSON.parse(l) as { pid?: number }).pid));
      if (pids.size < 2) throw new Error('one worker only so far');
    });
    return { dir: parts.dir, provider: parts.provider, orders: parts.orders, serve, base, fresh, close: () => undo(cleanUp) };
  } catch (error) {
    await undo(cleanUp);
    throw error;
  }
}

export interface OidcNode {
  serve: ServeProcess;
  base: string;
  configFile: string;
}

export interface OidcNodes extends Parts {
  /** The database both nodes store in. */
  databaseUrl: string;
  /** Nodes a and b. */
  nodes: [OidcNode, OidcNode];
  close(): Promise<void>;
}

/**
 * Two `serve` nodes (a and b) sharing one new database of `postgres`, `redis` (under `redisPrefix`)
 * and one master key. Call it in beforeAll (the servers are usePostgres and useRedis).
 */
export async function startOidcNodes(options: OidcProcessesOptions & { postgres: { readonly server: TestPostgres }; redis: { readonly server: TestRedis }; redisPrefix: string }): Promise<OidcNodes> {
  const cleanUp: (() => Promise<void>)[] = [];
  try {
    const databaseUrl = await options.postgres.server.createDatabase();
    const ports = [await freePort(), await freePort()];
    const parts = await startParts(options, ports, cleanUp);
    writeFileSync(join(parts.dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const configFiles = ['a', 'b'].map((name, i) => {
      const file = join(parts.dir, `${name}.yaml`);
      writeFileSync(file, [
        `server: { host: 127.0.0.1, port: ${ports[i]}, publicOrigin: "${testServer.publicOrigin}", allowedHosts: [127.0.0.1] }`,
        `store: { postgres: "${databaseUrl}", timeout: 5s }`,
        `cache: { redis: "${options.redis.server.url}", prefix: "${options.redisPrefix}" }`,
        'masterKey: file:./master.key',
        ...parts.lines,
        '',
      ].join('\n'));
      return file;
    });
    storeClientSecret(configFiles[0]!);
    const nodes: OidcNode[] = [];
    for (const [i, configFile] of configFiles.entries()) {
      const serve = await startServe(configFile, ports[i]!);
      cleanUp.push(async () => { await serve.stop(); });
      nodes.push({ serve, base: `http://127.0.0.1:${ports[i]}`, configFile });
    }
    return { dir: parts.dir, provider: parts.provider, orders: parts.orders, databaseUrl, nodes: [nodes[0]!, nodes[1]!], close: () => undo(cleanUp) };
  } catch (error) {
    await undo(cleanUp);
    throw error;
  }
}

/** Requests to the process at `base`, on the usual connection pool. */
export function at(base: string): Send {
  return (path, options = {}) => call(base, path, options);
}

/**
 * A whole OIDC login as `login` at the provider, begun through `begin` and finished (the provider's
 * redirect back followed) through `finish`: the session cookie value.
 */
export async function loginThrough(provider: TestProvider, login: string, begin: Send, finish: Send = begin): Promise<string> {
  const start = await begin('/auth/oidc/login?provider=corp&returnTo=/app', { csrf: false });
  if (start.status !== 303) throw new Error(`login start answered ${start.status}: ${start.text}`);
  const callback = await completeLogin(String(start.headers.location), provider.issuer, { login });
  const back = await finish(gatewayPath(callback), { csrf: false, headers: { cookie: loginCookieOf(start) } });
  if (back.status !== 303 || !back.cookie) throw new Error(`callback answered ${back.status}: ${back.text}`);
  return back.cookie;
}
