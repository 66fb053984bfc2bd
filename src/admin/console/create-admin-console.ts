import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoginThrottle } from '../../accounts/login-throttle.js';
import type { Services } from '../../app/open-services.js';
import { RefusalAudit } from '../../audit/refusal-audit.js';
import type { AdminConfig } from '../../config/schema.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { createResponder } from '../../http/respond.js';
import { errorFields } from '../../log/error-fields.js';
import type { AdminHandler } from '../admin-server.js';
import { auditExport, consoleApi } from './console-api.js';
import { adminCookiePolicy, ConsoleGate } from './console-gate.js';
import type { MetricsSampler } from './metrics-sampler.js';
import { passkeyOptions, passkeySignIn, signIn, signOut } from './console-sign-in.js';
import { PasskeyService } from '../../mfa/passkey-service.js';

export interface AdminConsoleDeps {
  services: Services;
  admin: AdminConfig;
  /** The overview's requests and upstream latency (started and stopped by whoever owns the registry); none: those charts stay empty. */
  sampler?: MetricsSampler | null;
}

/**
 * Strict CSP (OWASP CSP Cheat Sheet): scripts and styles only from files on this origin, no inline
 * code or handlers, no framing, no plugins. uPlot styles its canvases through the CSSOM, which
 * `style-src 'self'` permits (CSP3 governs style elements and attributes, not element.style).
 */
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Reads that are not the admin's activity: the page polls them on its own. */
const passive = new Set(['/api/overview', '/api/session']);

/** The pages: one HTML shell; console.js draws the page the path names. */
const pages = new Set(['/', '/users', '/sessions', '/audit', '/blocks', '/secrets', '/config']);

interface Asset { type: string; body: Buffer }

/**
 * The admin console (SPEC §11) as one handler of the admin listener: its static site, and a JSON
 * API under /api/ for admins who completed a second factor. Everything else is left to the next
 * handler (false), so /metrics and the listener's 404 stay theirs.
 */
export function createAdminConsole(deps: AdminConsoleDeps): AdminHandler {
  const { services, admin } = deps;
  const respond = createResponder(admin.publicOrigin.startsWith('https:'));
  const cookie = adminCookiePolicy(admin.publicOrigin);
  const refusals = new RefusalAudit({ audit: services.audit, counters: services.store.counters, clock: services.clock });
  const gate = new ConsoleGate({ admin, sessions: services.sessions, refusals, cookie });
  const throttle = new LoginThrottle({ counters: services.store.throttle, clock: services.clock, settings: services.config.login });
  const passkeys = new PasskeyService({
    store: services.store.mfa,
    users: services.store.users,
    clock: services.clock,
    random: services.random,
    publicOrigin: admin.publicOrigin,
    rpName: services.config.mfa.issuer,
    audit: services.audit,
  });
  const signInDeps = { services, throttle, gate, cookie, respond, passkeys };
  const api = consoleApi(services, deps.sampler ?? null);
  const assets = loadAssets();

  const sendAsset = (res: ServerResponse, asset: Asset): void => {
    res.writeHead(200, { ...respond.base, 'content-type': asset.type, 'content-length': asset.body.length, 'content-security-policy': csp });
    res.end(asset.body);
  };

  return async (req, res, ctx) => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname;
    const asset = pages.has(path) ? assets.get('/index.html') : assets.get(path);
    if (!asset && !path.startsWith('/api/')) return false;
    const method = req.method ?? 'GET';
    try {
      await gate.allowed(ctx);
      if (asset) {
        if (method !== 'GET' && method !== 'HEAD') throw new GatewayError('method_not_allowed');
        sendAsset(res, asset);
        return true;
      }
      if (path === '/api/login' && method === 'POST') return await done(signIn(req, res, ctx, signInDeps));
      if (path === '/api/passkey/options' && method === 'POST') return await done(passkeyOptions(req, res, ctx, signInDeps));
      if (path === '/api/passkey/verify' && method === 'POST') return await done(passkeySignIn(req, res, ctx, signInDeps));
      if (path === '/api/logout' && method === 'POST') return await done(signOut(req, res, ctx, signInDeps));
      const read = method === 'GET' ? api.reads.get(path) : undefined;
      const act = method === 'POST' ? api.actions.get(path) : undefined;
      const exporting = path === '/api/audit.jsonl' && method === 'GET';
      if (!read && !act && !exporting) {
        throw new GatewayError(api.reads.has(path) || api.actions.has(path) ? 'method_not_allowed' : 'not_found');
      }
      // State-changing calls pass the CSRF checks before the session is even read (SPEC §4.3).
      if (act) await gate.csrf(req, ctx, null);
      const live = await gate.session(req, ctx);
      // Activity restarts the idle timeout, as on the public port; the overview's poll and the
      // session check do not (like GET /auth/session), so a console left open still times out.
      const writing = passive.has(path) ? null : services.sessions.touch(live.session);
      if (writing && !(await writing)) throw new GatewayError('unauthenticated');
      const call = { req, res, url, live, actor: gate.actor(ctx, live.user.name) };
      if (exporting) {
        const body = Buffer.from(await auditExport(services, url));
        res.writeHead(200, { ...respond.base, 'content-type': 'application/x-ndjson; charset=utf-8', 'content-disposition': 'attachment; filename="gatehouse-audit.jsonl"', 'content-length': body.length });
        res.end(body);
      } else if (read) {
        respond.json(res, 200, await read(call));
      } else {
        await act!(call);
        respond.empty(res, 204);
      }
    } catch (error) {
      if (error instanceof GatewayError) {
        respond.error(res, error);
      } else {
        services.logger.error({ err: errorFields(error), requestId: ctx.requestId }, 'admin console request failed');
        respond.errorCode(res, 'internal_error');
      }
    }
    return true;
  };
}

const done = async (work: Promise<void>): Promise<true> => {
  await work;
  return true;
};

/**
 * The console's files and uPlot's, read once: from src/admin/console/site (beside this file in the
 * sources, and found from dist/ through the package root) and from node_modules/uplot (no CDN).
 */
function loadAssets(): Map<string, Asset> {
  const here = dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  const uplot = join(dirname(require.resolve('uplot/package.json')), 'dist');
  let root = here;
  while (!existsSync(join(root, 'package.json')) && dirname(root) !== root) root = dirname(root);
  const site = join(root, 'src', 'admin', 'console', 'site');
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return new Map([
    ['/index.html', { type: 'text/html; charset=utf-8', body: readFileSync(join(site, 'index.html')) }],
    ['/assets/console.js', { type: js, body: readFileSync(join(site, 'console.js')) }],
    ['/assets/console.css', { type: css, body: readFileSync(join(site, 'console.css')) }],
    ['/assets/uplot.js', { type: js, body: readFileSync(join(uplot, 'uPlot.iife.min.js')) }],
    ['/assets/uplot.css', { type: css, body: readFileSync(join(uplot, 'uPlot.min.css')) }],
  ]);
}
