import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createGateway } from '../src/app/create-gateway.js';
import { openServices } from '../src/app/open-services.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import type { GatewayConfig } from '../src/config/schema.js';
import { createLogger } from '../src/log/logger.js';
import { startDemoUpstream, type DemoUpstream } from './upstream/server.js';

/**
 * `npm start`: the demo. Gatehouse on http://localhost:8080 in front of the demo upstream API,
 * with the demo website, a demo user and all state under ./data/. Runs as dist/demo/start.js.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const configFile = fileURLToPath(new URL('../../demo/gatehouse.yaml', import.meta.url));
const dataDir = join(repoRoot, 'data');
const tokenFile = join(dataDir, 'demo-upstream.token');
const secretName = 'weather-token';
const demoUser = 'demo';
const actor = { user: 'demo-setup' };

async function main(): Promise<void> {
  const config = loadDemoConfig();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = readOrCreateToken();

  const upstreamConfig = config.upstreams.find((u) => u.name === 'weather');
  if (!upstreamConfig) throw new Error('demo/gatehouse.yaml must define the upstream "weather"');
  const upstreamUrl = new URL(upstreamConfig.url);

  // First-run setup happens before the gateway is built: it refuses to start while a secret the
  // configuration names is missing.
  const password = randomBytes(18).toString('base64url');
  const setup = await openServices(config, { createMasterKey: true });
  let outcome: 'created' | 'exists';
  try {
    // The secret follows the token file, so deleting either one heals on the next start.
    if ((await setup.secrets.reveal(secretName)) !== token) await setup.secrets.set(secretName, token, actor);
    outcome = await setup.accounts.add({ name: demoUser, roles: ['user'], password, requireReset: false }, actor);
  } finally {
    await setup.close();
  }

  // Synchronous stdout, so the gateway's JSON log lines and the lines below keep their order.
  const gateway = await createGateway({ config, logger: createLogger({ destination: pino.destination({ fd: 1, sync: true }) }) });
  let upstream: DemoUpstream | undefined;
  try {
    upstream = await startDemoUpstream({
      host: upstreamUrl.hostname.replace(/^\[|\]$/g, ''),
      port: Number(upstreamUrl.port || 80),
      token,
      // With `assertion: true` in demo/gatehouse.yaml the upstream also demands Gatehouse's signed
      // assertion (SPEC §7), checked against the keys this gateway publishes. It fetches them from
      // publicOrigin, as an upstream elsewhere would: Gatehouse answers only the host names it is
      // configured for (SPEC §4.4), so fetching by the listening address would need that address
      // in server.allowedHosts, which would also open the website on a name CSRF checks refuse.
      ...(upstreamConfig.assertion && {
        assertion: { jwksUrl: new URL('/.well-known/jwks.json', config.server.publicOrigin).href, issuer: config.server.publicOrigin, audience: upstreamUrl.origin },
      }),
    });
    await gateway.start();

    console.log('');
    if (outcome === 'created') {
      console.log(box([
        'Demo user created. This password is shown ONCE:',
        '',
        `  user:      ${demoUser}`,
        `  password:  ${password}`,
      ]));
    } else {
      console.log(`The demo user "${demoUser}" already exists; its password was shown on the first run.`);
      console.log(`Set a new one with: npx gatehouse user passwd ${demoUser} --config demo/gatehouse.yaml`);
    }
    console.log('');
    console.log(`Gatehouse is listening on ${gateway.url}`);
    console.log(`Open ${config.server.publicOrigin} in your browser (the origin CSRF checks expect).`);
    const refuses = upstreamConfig.assertion ? 'the token and a fresh Gatehouse-Assertion' : 'the token';
    console.log(`Demo upstream API on ${upstream.url} (it refuses anyone without ${refuses}). Ctrl+C stops both.`);
    console.log('');
  } catch (error) {
    await gateway.stop().catch(() => undefined);
    await upstream?.close().catch(() => undefined);
    throw error;
  }

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping…');
    Promise.allSettled([gateway.stop(), upstream?.close()]).then((results) => {
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) console.error(`Stopping failed: ${describe(failed.reason)}`);
      process.exit(failed ? 1 : 0);
    }, () => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function loadDemoConfig(): GatewayConfig {
  try {
    return loadConfig(configFile).config;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`demo/gatehouse.yaml is invalid:\n${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

/** The upstream's bearer token: 32 random bytes, created once, readable by this user only. */
function readOrCreateToken(): string {
  try {
    const existing = readFileSync(tokenFile, 'utf8').trim();
    if (existing.length > 0) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  return token;
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
    console.error('A port the demo needs (8080 for Gatehouse or 9000 for the demo upstream) is already in use.');
  } else {
    console.error(`The demo could not start: ${describe(error)}`);
  }
  process.exit(1);
});
