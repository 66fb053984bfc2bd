/**
 * Contender C: the real Gatehouse from the compiled tree (`npm run build` first). Configuration is
 * built in code and goes through the real `parseConfig`; SQLite and the master key live in a temp
 * dir; the upstream secret is stored through the secret service; the session comes from the real
 * /auth/login endpoint. The access log is on, written by pino to BENCH_ACCESS_LOG (/dev/null by
 * default, so the disk is not what is measured; BENCH_LOG_MIN_LENGTH batches its writes, BENCH_LOG_LEVEL=silent turns it off to measure its cost).
 * BENCH_LIMITS (a JSON array, default []) becomes the config's `limits` (bench/run.mjs); then the
 * parent may ask `{ type: 'rule-hits', since }` for each rule's hits counted since the gateway's
 * clock read `since` (`{ type: 'clock' }`), to check that every request was counted.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { benchSecret, cookieName, serveAsChild } from '../lib/child.mjs';

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
    limits: JSON.parse(process.env.BENCH_LIMITS ?? '[]'),
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

  const cookie = setCookie.split(';', 1)[0];
  const clock = gateway.services.clock;
  // The key each rule counts this client under: the session's id hash (SHA-256 of the cookie
  // value, as the session service stores it), the user name, the client address.
  const subjectKey = {
    session: createHash('sha256').update(cookie.slice(cookie.indexOf('=') + 1)).digest('hex'),
    user: 'bench',
    ip: '127.0.0.1',
  };
  serveAsChild({ url: gateway.url, cookie }, async () => {
    await gateway.stop();
    logger.flush?.();
    cleanup();
  }, {
    clock: () => ({ now: clock.now() }),
    /** Hits per rule in (since, now], read from the gateway's own counter store (`rule:<name>:<key>`). */
    'rule-hits': async ({ since }) => {
      const now = clock.now();
      const hits = {};
      for (const rule of config.limits) {
        hits[rule.name] = (await gateway.runtime.counters.count(`rule:${rule.name}:${subjectKey[rule.by]}`, now, Math.max(1, now - since))).count;
      }
      return { hits };
    },
  });
} catch (error) {
  cleanup();
  throw error;
}
