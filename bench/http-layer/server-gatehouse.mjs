/**
 * Contender C: the real Gatehouse from the compiled tree (`npm run build` first). Configuration is
 * built in code and goes through the real `parseConfig`; SQLite and the master key live in a temp
 * dir; the upstream secret is stored through the secret service; the session comes from the real
 * /auth/login endpoint. The access log is on, written by pino to BENCH_ACCESS_LOG (/dev/null by
 * default, so the disk is not what is measured; BENCH_LOG_MIN_LENGTH batches its writes, BENCH_LOG_LEVEL=silent turns it off to measure its cost).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { benchSecret, cookieName, serveAsChild } from './child.mjs';

const dist = resolve(process.env.GATEHOUSE_DIST ?? 'dist');
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { createGateway } = await load('src/app/create-gateway.js');
const { parseConfig } = await load('src/config/load.js');
const { openServices } = await load('src/app/open-services.js');
const { createLogger } = await load('src/log/logger.js');

const upstream = process.env.BENCH_UPSTREAM;
const password = 'bench correct horse battery staple';
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });

try {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080' },
    store: { sqlite: './gatehouse.db' },
    masterKey: 'file:./master.key',
    upstreams: [{ name: 'api', url: upstream, credential: { type: 'bearer', secret: 'api-token' } }],
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
  }, dir);

  // The secret and the user exist before the gateway starts, as after `gatehouse secret set` / `user add`.
  const setup = await openServices(config, { createMasterKey: true });
  await setup.secrets.set('api-token', benchSecret, { user: 'bench' });
  await setup.accounts.add({ name: 'bench', roles: ['user'], password, requireReset: false }, { user: 'bench' });
  await setup.close();

  // sync: false and no minLength, as createLogger's own stdout destination.
  const destination = pino.destination({ dest: process.env.BENCH_ACCESS_LOG ?? '/dev/null', sync: false, minLength: Number(process.env.BENCH_LOG_MIN_LENGTH ?? 0) });
  const logger = createLogger({ destination, level: process.env.BENCH_LOG_LEVEL ?? 'info' });
  const gateway = await createGateway({ config, logger });
  await gateway.start();

  const login = await fetch(`${gateway.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify({ username: 'bench', password }),
  });
  const setCookie = login.headers.get('set-cookie') ?? '';
  if (login.status !== 200 || !setCookie.startsWith(`${cookieName}=`)) {
    throw new Error(`login failed: ${login.status} ${await login.text()}`);
  }

  serveAsChild({ url: gateway.url, cookie: setCookie.split(';', 1)[0] }, async () => {
    await gateway.stop();
    logger.flush?.();
    cleanup();
  });
} catch (error) {
  cleanup();
  throw error;
}
