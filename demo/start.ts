import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../src/config/load.js';
import type { GatewayConfig } from '../src/config/schema.js';
import { createLogger } from '../src/log/logger.js';
import { demoProviderName, startDemo } from './start-demo.js';

/**
 * `npm start`: the demo. Gatehouse on http://localhost:8080 in front of the demo upstream API,
 * with the demo website, a demo user, a demo OpenID provider and all state under ./data/. Runs as
 * dist/demo/start.js. `npm start -- --config FILE --data DIR` runs it on another configuration
 * and data folder (the startup test runs it on free ports and a temporary folder).
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const args = readArgs();
const configFile = args.config ? resolve(args.config) : join(repoRoot, 'demo', 'gatehouse.yaml');
const dataDir = args.data ? resolve(args.data) : join(repoRoot, 'data');

async function main(): Promise<void> {
  const config = loadDemoConfig();
  // Synchronous stdout, so the gateway's JSON log lines and the lines below keep their order.
  const demo = await startDemo({ config, dataDir, logger: createLogger({ destination: pino.destination({ fd: 1, sync: true }) }) });
  const { localUser, providerAccount, provider, upstream, gateway } = demo;

  console.log('');
  const lines: string[] = [];
  if (localUser.password !== null) {
    lines.push('Demo user created. This password is shown ONCE:', '', `  user:      ${localUser.name}`, `  password:  ${localUser.password}`);
  }
  if (providerAccount && provider) {
    if (lines.length > 0) lines.push('');
    lines.push(
      `${lines.length > 0 ? 'Or "Sign' : '"Sign'} in with the ${demoProviderName} provider" (${provider.issuer}) as:`,
      '',
      `  user:      ${providerAccount.username}`,
      `  password:  ${providerAccount.password}`,
    );
  }
  if (lines.length > 0) console.log(box(lines));
  if (localUser.password === null) {
    console.log(`The demo user "${localUser.name}" already exists; its password was shown on the first run.`);
    console.log(`Set a new one with: npx gatehouse user passwd ${localUser.name} --config demo/gatehouse.yaml`);
  }
  console.log('');
  console.log(`Gatehouse is listening on ${gateway.url}`);
  console.log(`Open ${config.server.publicOrigin} in your browser (the origin CSRF checks expect).`);
  const weather = config.upstreams.find((u) => u.name === 'weather');
  const refuses = weather?.assertion ? 'the token and a fresh Gatehouse-Assertion' : 'the token';
  console.log(`Demo upstream API on ${upstream.url} (it refuses anyone without ${refuses}).`);
  if (provider) console.log(`Demo OpenID provider on ${provider.issuer} (its account is in the box above).`);
  console.log('Ctrl+C stops them all.');
  console.log('');

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping…');
    demo.close().then(() => process.exit(0), (error: unknown) => {
      console.error(`Stopping failed: ${describe(error)}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function readArgs(): { config?: string; data?: string } {
  try {
    return parseArgs({ options: { config: { type: 'string' }, data: { type: 'string' } } }).values;
  } catch (error) {
    console.error(`${describe(error)}\nUsage: npm start [-- --config FILE --data DIR]`);
    process.exit(2);
  }
}

function loadDemoConfig(): GatewayConfig {
  try {
    return loadConfig(configFile).config;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`${configFile} is invalid:\n${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

function box(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length));
  const edge = `+${'-'.repeat(width + 2)}+`;
  return [edge, ...lines.map((l) => `| ${l.padEnd(width)} |`), edge].join('\n');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

main().catch((error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    console.error('A port the demo needs (8080 for Gatehouse, 9000 for the demo upstream or 9001 for the demo provider) is already in use.');
  } else {
    console.error(`The demo could not start: ${describe(error)}`);
  }
  process.exit(1);
});
