import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/app/create-gateway.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { openServices } from '../../src/app/open-services.js';
import type { GatewayConfig } from '../../src/config/schema.js';
import { ManualClock } from '../../src/security/clock.js';

export const SECRET = 'upstream-secret-3f9a7c1e5b2d4a6f8e0c';
export const PASSWORD = 'correct horse battery staple';

/**
 * Browsers reach the test gateway as publicOrigin (http://localhost:8080), the tests' own clients by
 * its listening address on a random port: `allowedHosts` admits that address (SPEC §3), as an
 * operator would for local tools. Any other name still gets 421 (test/security/dns-rebinding.test.ts).
 */
export const testServer = { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080', allowedHosts: ['127.0.0.1'] } as const;

export interface TestGateway {
  gateway: Gateway;
  url: string;
  clock: ManualClock;
  dir: string;
  /** Every JSON log line the gateway wrote. */
  logs(): string;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  upstreamUrl: string;
  /**
   * Merged over the default test configuration: top-level keys replace, except `server`, whose keys
   * replace the default server's one by one (so `allowedHosts` stays unless a test sets it).
   */
  config?: Record<string, unknown>;
  users?: { name: string; roles?: string[]; password?: string; requireReset?: boolean }[];
  secret?: string;
  /** More stored secrets (name → value), set before the gateway starts (e.g. an OIDC client secret). */
  secrets?: Record<string, string>;
  /** The WebSocket ping interval (default 30 s): ping tests shorten it rather than wait. */
  webSocketPingIntervalMs?: number;
  /** WebSocket backpressure limits: backpressure tests shorten the stall bound rather than wait. */
  webSocketFlow?: GatewayOptions['webSocketFlow'];
}

/** The default test configuration's upstream: `api`, with a static bearer secret (`api-token`). */
export const defaultUpstream = (url: string): Record<string, unknown> => ({ name: 'api', url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' });

/** The default test configuration's routes, all to `api`. */
export const defaultRoutes: readonly Record<string, unknown>[] = [
  { path: '/api/public/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api/public', public: true },
  { path: '/api/download/**', methods: ['GET'], upstream: 'api', csrf: false },
  { path: '/api/admin/**', methods: ['GET', 'POST'], upstream: 'api', roles: ['admin'] },
  { path: '/api/**', methods: ['GET', 'POST', 'PUT', 'DELETE'], upstream: 'api', stripPrefix: '/api' },
];

/**
 * A real gateway on a random 127.0.0.1 port with a fresh SQLite file and master key in a temp dir,
 * driven by a manual clock. Configuration goes through the real YAML loader.
 */
export async function startGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const { server, ...rest } = options.config ?? {};
  const document = {
    server: { ...testServer, ...(server as Record<string, unknown> | undefined) },
    store: { sqlite: './gatehouse.db' },
    masterKey: 'file:./master.key',
    upstreams: [defaultUpstream(options.upstreamUrl)],
    routes: defaultRoutes,
    ...rest,
  };
  writeFileSync(join(dir, 'gatehouse.yaml'), stringify(document));
  const { config } = loadConfig(join(dir, 'gatehouse.yaml'));
  const clock = new ManualClock(Date.now());
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (chunk: Buffer) => {
    logText += chunk.toString('utf8');
  });
  const logger = createLogger({ destination: logStream });
  const gateway = await createGatewayWithSecret(config, clock, logger, options.secret ?? SECRET, options.secrets ?? {}, options);
  for (const user of options.users ?? [{ name: 'alice', roles: ['user'] }]) {
    await gateway.services.accounts.add({ name: user.name, roles: user.roles ?? ['user'], password: user.password ?? PASSWORD, requireReset: user.requireReset ?? false }, { user: 'test' });
  }
  await gateway.start();
  return {
    gateway,
    url: gateway.url,
    clock,
    dir,
    logs: () => logText,
    close: async () => {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The secret must be stored before the gateway starts: an upstream naming a missing secret is a configuration error. */
async function createGatewayWithSecret(config: GatewayConfig, clock: ManualClock, logger: Logger, secret: string, more: Record<string, string>, relay: Pick<GatewayOptions, 'webSocketPingIntervalMs' | 'webSocketFlow'>): Promise<Gateway> {
  const setup = await openServices(config, { createMasterKey: true, clock });
  await setup.secrets.set('api-token', secret, { user: 'test' });
  for (const [name, value] of Object.entries(more)) await setup.secrets.set(name, value, { user: 'test' });
  await setup.close();
  return createGateway({
    config, clock, logger,
    ...(relay.webSocketPingIntervalMs !== undefined ? { webSocketPingIntervalMs: relay.webSocketPingIntervalMs } : {}),
    ...(relay.webSocketFlow !== undefined ? { webSocketFlow: relay.webSocketFlow } : {}),
  });
}
