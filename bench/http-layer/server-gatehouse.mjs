/**
 * Contender C: the real Gatehouse from the compiled tree (`npm run build` first). Configuration is
 * built in code and goes through the real `parseConfig`; SQLite and the master key live in a temp
 * dir; the upstream secret is stored through the secret service; the session comes from the real
 * /auth/login endpoint. The access log is on, written to BENCH_ACCESS_LOG (/dev/null by default, so
 * the disk is not what is measured) the way `gatehouse serve` writes stdout: through the build's own
 * `stdoutDestination` (a build from before it existed gets the unbatched writer it had then).
 * BENCH_LOG_LEVEL=silent turns logging off, to measure its cost.
 * BENCH_LIMITS (a JSON array, default []) becomes the config's `limits` (bench/run.mjs); then the
 * parent may ask `{ type: 'rule-hits', since }` for each rule's hits counted since the gateway's
 * clock read `since` (`{ type: 'clock' }`), to check that every request was counted. The hits are
 * tallied as the counter store records them (its `take`, `add` and `evaluate`, wrapped on the gateway's own
 * instance): the store's windows count in buckets, so it cannot answer "since a moment" itself.
 *
 * For the scale benchmark (bench/scale.mjs, issue 6 item 3), all off by default:
 *  - BENCH_SESSIONS=N writes N more sessions of the bench user straight into the SQLite file before
 *    the gateway starts (bench/lib/sessions.mjs: cookie values derived from their number); the
 *    parent may then ask `{ type: 'sessions-used' }` how many of them requests have reached (and,
 *    always, `{ type: 'memory' }` for process.memoryUsage());
 *  - BENCH_COOKIE_SPREAD=K (K ≤ N) writes the first K of their cookie values to a file in the temp
 *    dir and reports it (`ready.cookieFile`), for bench/lib/wrk-sessions.lua to rotate over;
 *
 * For the user-token scenario (bench/run.mjs, GL and GU; decision 0012): BENCH_OIDC_ISSUER names
 * the provider (bench/http-layer/oidc-provider.mjs), configured as `corp`; BENCH_SESSION=oidc logs
 * in there (bench/lib/oidc-login.mjs) and gives the upstream a `user-token` credential, and `ready`
 * then carries the session's access token (`bearer`) for the upstream to accept; anything else
 * keeps the password login and the static secret, beside the same provider. BENCH_PORT: the port
 * (the provider must know the callback URL before the gateway starts).
 *  - BENCH_WEBSOCKET=1 lets WebSocket upgrades through on `/api/**` (bench/websocket.mjs).
 *  - BENCH_ROUTES=N configures N routes: N-1 decoys (`/r<i>/**`) listed before the benchmarked
 *    `/api/**`, so a matcher that walked the list in order would meet its worst case.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { benchSecret, cookieName, serveAsChild } from '../lib/child.mjs';
import { freePort } from '../lib/processes.mjs';
import { benchClient, loginAt } from '../lib/oidc-login.mjs';
import { seedSessions, usedSince } from '../lib/sessions.mjs';

const dist = resolve(process.env.GATEHOUSE_DIST ?? 'dist');
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { createGateway } = await load('src/app/create-gateway.js');
const { parseConfig } = await load('src/config/load.js');
const { openServices } = await load('src/app/open-services.js');
const { createLogger, stdoutDestination } = await load('src/log/logger.js');

const upstream = process.env.BENCH_UPSTREAM;
const password = 'bench correct horse battery staple';
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
const extraSessions = Number(process.env.BENCH_SESSIONS ?? 0);
const cookieSpread = Number(process.env.BENCH_COOKIE_SPREAD ?? 0);
const routeCount = Number(process.env.BENCH_ROUTES ?? 1);
const oidcIssuer = process.env.BENCH_OIDC_ISSUER ?? null;
const webSocket = process.env.BENCH_WEBSOCKET === '1';
const oidcSession = oidcIssuer !== null && process.env.BENCH_SESSION === 'oidc';

/** `count` routes to the upstream: decoys on paths of their own first, the benchmarked `/api/**` last. */
function routes(count) {
  const decoys = Array.from({ length: count - 1 }, (_, i) => ({ path: `/r${i}/**`, methods: ['GET'], upstream: 'api', stripPrefix: `/r${i}` }));
  return [...decoys, { path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api', ...(webSocket ? { websocket: true } : {}) }];
}

try {
  // wrk and the checks reach the gateway by address, so that address is publicOrigin: Gatehouse
  // answers 421 to any other Host (SPEC §4.4). Not server.allowedHosts, which older builds
  // (GATEHOUSE_DIST) would refuse as an unknown key.
  const port = Number(process.env.BENCH_PORT ?? 0) || await freePort();
  const config = parseConfig({
    server: { host: '127.0.0.1', port, publicOrigin: `http://127.0.0.1:${port}` },
    store: { sqlite: './gatehouse.db' },
    masterKey: 'file:./master.key',
    upstreams: [{ name: 'api', url: upstream, credential: oidcSession ? { type: 'user-token', provider: 'corp' } : { type: 'bearer', secret: 'api-token' } }],
    routes: routes(routeCount),
    ...(oidcIssuer ? {
      oidc: {
        providers: [{
          name: 'corp', issuer: oidcIssuer, clientId: benchClient.clientId, clientSecret: 'corp-oidc', scopes: ['openid', 'email'],
          roles: [{ role: 'user', claim: 'email_verified', equals: true }], allowInsecureHttp: true,
        }],
      },
    } : {}),
    limits: JSON.parse(process.env.BENCH_LIMITS ?? '[]'),
  }, dir);

  // The secret and the user exist before the gateway starts, as after `gatehouse secret set` / `user add`.
  const setup = await openServices(config, { createMasterKey: true });
  await setup.secrets.set('api-token', benchSecret, { user: 'bench' });
  if (oidcIssuer) await setup.secrets.set('corp-oidc', benchClient.clientSecret, { user: 'bench' });
  await setup.accounts.add({ name: 'bench', roles: ['user'], password, requireReset: false }, { user: 'bench' });
  await setup.close();

  const sessionsFile = config.store.sqlite;
  // Seeded "5 s ago", so the first request of each writes its touch and `sessions-used` can see it.
  const seededAt = Date.now() - 5_000;
  if (cookieSpread > extraSessions) throw new Error(`BENCH_COOKIE_SPREAD=${cookieSpread} asks for more sessions than BENCH_SESSIONS=${extraSessions} seeds`);
  const cookieFile = cookieSpread > 0 ? join(dir, 'cookies.txt') : null;
  const seeding = extraSessions > 0
    ? seedSessions(sessionsFile, { count: extraSessions, user: 'bench', lastSeenAt: seededAt, absoluteTimeoutMs: config.session.absoluteTimeout, cookieFile, cookies: cookieSpread })
    : null;

  const logFd = openSync(process.env.BENCH_ACCESS_LOG ?? '/dev/null', 'a');
  const destination = stdoutDestination ? stdoutDestination(logFd) : pino.destination({ fd: logFd, sync: false });
  const logger = createLogger({ destination, level: process.env.BENCH_LOG_LEVEL ?? 'info' });
  const gateway = await createGateway({ config, logger });
  await gateway.start();

  const cookie = oidcSession ? await loginAt(gateway.url, oidcIssuer, cookieName) : await passwordLogin(gateway.url);
  const clock = gateway.services.clock;
  // The key each rule counts this client under: the session's non-secret handle (looked up by the
  // id hash, SHA-256 of the cookie value, as the session service stores it), the user name, the
  // client address.
  const idHash = createHash('sha256').update(cookie.slice(cookie.indexOf('=') + 1)).digest('hex');
  const handle = (await gateway.services.store.sessions.get(idHash)).handle;
  const subjectKey = { session: handle, user: 'bench', ip: '127.0.0.1' };
  const bearer = oidcSession ? await accessToken(gateway.services, handle) : null;
  // Hits the counter store recorded, per key: its allowed takes and its adds (see the header).
  const recorded = new Map();
  const tally = (key) => recorded.set(key, (recorded.get(key) ?? 0) + 1);
  const counters = gateway.runtime.counters;
  const take = counters.take.bind(counters);
  const add = counters.add.bind(counters);
  counters.take = async (key, ...rest) => {
    const result = await take(key, ...rest);
    if (result.allowed) tally(key);
    return result;
  };
  counters.add = async (key, ...rest) => {
    tally(key);
    return add(key, ...rest);
  };
  // The rules count through `evaluate` (all of a request's rules in one call): an allowed take and
  // every add is a hit, as above.
  const evaluate = counters.evaluate.bind(counters);
  counters.evaluate = async (checks, ...rest) => {
    const results = await evaluate(checks, ...rest);
    results.forEach((result, i) => {
      const check = checks[i];
      if (check.verb === 'add' || (check.verb === 'take' && result.allowed)) tally(check.key);
    });
    return results;
  };
  /** The tallies as they were when the parent read the clock, by the time it was given. */
  const tallied = new Map();
  const scale = { sessions: extraSessions, seedMs: seeding?.ms ?? 0, cookieFile, cookieName, spread: cookieSpread, routes: config.routes.length };
  serveAsChild({ url: gateway.url, cookie, ...scale, ...(bearer ? { bearer } : {}) }, async () => {
    await gateway.stop();
    logger.flush?.();
    cleanup();
  }, {
    clock: () => {
      const now = clock.now();
      tallied.set(now, new Map(recorded));
      return { now };
    },
    'sessions-used': () => ({ used: extraSessions > 0 ? usedSince(sessionsFile, seededAt) : 0 }),
    /** process.memoryUsage(): what of the RSS is the JS heap, and what native (SQLite's page cache among it). */
    memory: () => ({ memory: process.memoryUsage() }),
    /** Hits per rule in (since, now], read from the gateway's own counter store (`rule:<name>:<key>`). */
    'rule-hits': async ({ since }) => {
      const before = tallied.get(since) ?? new Map();
      const hits = {};
      for (const rule of config.limits) {
        const key = `rule:${rule.name}:${subjectKey[rule.by]}`;
        hits[rule.name] = (recorded.get(key) ?? 0) - (before.get(key) ?? 0);
      }
      return { hits };
    },
  });
} catch (error) {
  cleanup();
  throw error;
}

async function passwordLogin(url) {
  const login = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify({ username: 'bench', password }),
  });
  const setCookie = login.headers.get('set-cookie') ?? '';
  if (login.status !== 200 || !setCookie.startsWith(`${cookieName}=`)) {
    throw new Error(`login failed: ${login.status} ${await login.text()}`);
  }
  return setCookie.split(';', 1)[0];
}

/** The OIDC session's access token, as the gateway stored it (sealed), for the upstream to accept. */
async function accessToken(services, handle) {
  const { open } = await load('src/secrets/envelope.js');
  const { oidcTokensAad } = await load('src/secrets/sealed-values.js');
  const record = await services.store.oidc.getSession(handle);
  return JSON.parse(open(services.keyring, oidcTokensAad(handle), record.sealedTokens).toString('utf8')).accessToken;
}
