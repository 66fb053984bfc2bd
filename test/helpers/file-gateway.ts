import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { openServices } from '../../src/app/open-services.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { ManualClock } from '../../src/security/clock.js';
import { PASSWORD, testServer } from './gateway.js';

/**
 * A gateway whose whole configuration a test writes: a list of master keys, several secrets, TLS on
 * either side. (helpers/gateway.ts fixes one master key and one secret.) Everything lives in a temp
 * folder; the YAML goes through the real loader.
 */
export interface GatewayFolder {
  dir: string;
  configFile: string;
  /** Writes the configuration; relative paths in it resolve against `dir`. */
  writeConfig(document: Record<string, unknown>): void;
  /** Writes a new random master key file (32 bytes, base64) named `name`. */
  writeKey(name: string): void;
  remove(): void;
}

export function gatewayFolder(): GatewayFolder {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const configFile = join(dir, 'gatehouse.yaml');
  return {
    dir,
    configFile,
    writeConfig: (document) => writeFileSync(configFile, stringify(document)),
    writeKey: (name) => writeFileSync(join(dir, name), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The parts every test configuration has: 127.0.0.1 on a random port (admitted as a Host besides
 * publicOrigin, see helpers/gateway.ts `testServer`), SQLite in the folder.
 */
export function baseDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: testServer,
    store: { sqlite: './gatehouse.db' },
    masterKey: 'file:./master.key',
    ...overrides,
  };
}

/** Stores secrets and users through the services, as `gatehouse secret set` / `user add` would. */
export async function arrangeStore(folder: GatewayFolder, options: { secrets?: Record<string, string>; users?: { name: string; roles?: string[] }[]; clock?: ManualClock }): Promise<void> {
  const services = await openServices(loadConfig(folder.configFile).config, { createMasterKey: true, env: {}, ...(options.clock ? { clock: options.clock } : {}) });
  try {
    for (const [name, value] of Object.entries(options.secrets ?? {})) await services.secrets.set(name, value, { user: 'test' });
    for (const user of options.users ?? []) {
      await services.accounts.add({ name: user.name, roles: user.roles ?? ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    }
  } finally {
    await services.close();
  }
}

export interface RunningGateway {
  gateway: Gateway;
  url: string;
  clock: ManualClock;
  /** Every JSON log line this instance wrote. */
  logs(): string;
  /** Stops this instance; the folder stays. */
  stop(): Promise<void>;
}

/** Starts a gateway on the folder's current configuration. */
export async function startFromFolder(folder: GatewayFolder, options: { clock?: ManualClock } = {}): Promise<RunningGateway> {
  const { config } = loadConfig(folder.configFile);
  const clock = options.clock ?? new ManualClock(Date.now());
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (chunk: Buffer) => {
    logText += chunk.toString('utf8');
  });
  const gateway = await createGateway({ config, clock, env: {}, logger: createLogger({ destination: logStream }) });
  await gateway.start();
  return { gateway, url: gateway.url, clock, logs: () => logText, stop: () => gateway.stop() };
}
