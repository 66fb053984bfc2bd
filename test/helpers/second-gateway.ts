import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import type { ManualClock } from '../../src/security/clock.js';
import type { TestGateway } from './gateway.js';

export interface SecondGateway {
  gateway: Gateway;
  url: string;
  logs(): string;
  /** Stops this instance only; the directory belongs to the first gateway. */
  close(): Promise<void>;
}

/**
 * Another gateway instance on the directory of one started by `startGateway`: the same YAML file,
 * master key and SQLite file, but its own store connection, services, counters and listener —
 * what a second `gatehouse serve` on the same store is, minus the process boundary. `clock`
 * defaults to the first gateway's, as two machines with synchronised clocks would have.
 */
export async function startSecondGateway(first: TestGateway, options: { clock?: ManualClock } = {}): Promise<SecondGateway> {
  const { config: read } = loadConfig(join(first.dir, 'gatehouse.yaml'));
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (chunk: Buffer) => {
    logText += chunk.toString('utf8');
  });
  // Its own admin listener, if any, on a free port: two listeners cannot share the first's.
  const config = read.admin ? { ...read, admin: { ...read.admin, port: 0 } } : read;
  const gateway = await createGateway({ config, clock: options.clock ?? first.clock, logger: createLogger({ destination: logStream }) });
  await gateway.start();
  return {
    gateway,
    url: gateway.url,
    logs: () => logText,
    close: () => gateway.stop(),
  };
}
