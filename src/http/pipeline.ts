import { GatewayError } from '../errors/gateway-error.js';
import { normalisePath } from '../routing/normalise-path.js';
import { clientAddress } from '../rules/address.js';
import { buildClearingCookie, readSessionCookie } from '../security/cookies.js';
import { checkCsrf, isPreflight } from '../security/csrf.js';
import type { LiveSession } from '../sessions/session-service.js';
import { SessionEnded } from '../oidc/token-refresher.js';
import type { RequestContext } from './context.js';
import type { Runtime } from './runtime.js';
import type { StaticSite } from './static-site.js';
import { errorFields } from '../log/error-fields.js';

/**
 * A stage lets the request through (undefined), ends it with an error outcome, or — rarely —
 * has answered it itself ('answered': a rate rule's configured response).
 */
export type StageResult = GatewayError | 'answered' | undefined;

export interface Stage {
  readonly name: string;
  run(ctx: RequestContext, rt: Runtime): StageResult | Promise<StageResult>;
}

/** SPEC §4.4: a request target longer than this is refused with 414. */
const maxTargetLength = 8 * 1024;

/**
 * The request lifecycle, written down as data. Every security decision is one of these stages, in
 * the order SPEC §4.4 fixes: checks for every request first, then — for the endpoint found — route,
 * method, session, CSRF, roles. Handlers run only after all of them passed.
 */
export const stages: readonly Stage[] = [
  {
    name: 'client-address',
    run(ctx, rt) {
      ctx.ip = clientAddress(ctx.req.socket.remoteAddress, ctx.req.headers['x-forwarded-for'], rt.trustedProxies);
      return undefined;
    },
  },
  {
    name: 'ip-rules',
    run(ctx, rt) {
      return rt.ipRules.admits(ctx.ip) ? undefined : refuseAddress(ctx, rt);
    },
  },
  {
    name: 'framing',
    run(ctx) {
      // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing — a 1.0 hop in
      // front of us would delimit the body differently (request smuggling). llhttp accepts it.
      if (ctx.req.httpVersionMinor === 0 && ctx.req.headers['transfer-encoding'] !== undefined) {
        ctx.res.shouldKeepAlive = false;
        return new GatewayError('bad_request', { message: 'The request is not valid HTTP.', headers: { connection: 'close' } });
      }
      // RFC 9112 §3.2: more than one Host line is answered 400. Node keeps the first; a proxy in
      // front may have routed on the last, so the Host check below would vouch for the wrong name.
      if (hostLines(ctx.req.rawHeaders) > 1) return new GatewayError('bad_request', { message: 'The request has more than one Host header.' });
      return undefined;
    },
  },
  {
    name: 'request-line',
    run(ctx) {
      // TRACE reflects the request, cookies included (Cross-Site Tracing); CONNECT opens tunnels.
      if (ctx.method === 'TRACE' || ctx.method === 'CONNECT') return new GatewayError('method_not_allowed');
      if ((ctx.req.url ?? '').length > maxTargetLength) return new GatewayError('uri_too_long');
      return undefined;
    },
  },
  {
    name: 'cors-preflight',
    run(ctx, rt) {
      // Gatehouse grants no cross-origin access, so a preflight is refused and never forwarded.
      return isPreflight(ctx.method, ctx.req.headers) ? refusePreflight(ctx, rt) : undefined;
    },
  },
  {
    name: 'host',
    run(ctx, rt) {
      // DNS rebinding (SPEC §4.4, security/host-policy.ts): a name we were not configured for is
      // refused before any content, session or login is reached. The health probes stay reachable
      // by whatever name a load balancer uses; their path is normalised only on this rare branch.
      if (rt.hosts.admits(ctx.req.headers.host)) return undefined;
      const target = normalisePath(ctx.req.url ?? '');
      if (target.ok && isHealthPath(target.path)) return undefined;
      return new GatewayError('misdirected_request');
    },
  },
  {
    name: 'normalise-path',
    run(ctx) {
      const target = normalisePath(ctx.req.url ?? '');
      if (!target.ok) return new GatewayError('bad_request', { message: 'The request path is not allowed.' });
      ctx.path = target.path;
      ctx.query = target.query;
      return undefined;
    },
  },
  {
    name: 'rule-blocks',
    run(ctx, rt) {
      const rules = rt.rateRules;
      if (rules.size === 0) return undefined;
      if (rules.observesStatus) {
        ctx.res.once('finish', () => {
          rules.observe(ctx, ctx.res.statusCode)?.catch((error: unknown) => {
            rt.logger.error({ requestId: ctx.requestId, err: errorFields(error) }, 'could not count a response for the rate rules');
          });
        });
      }
      // SPEC §5: a blocked key is refused on every request but the health probes.
      if (!rules.blocksByIp || isHealthPath(ctx.path)) return undefined;
      return rules.addressBlocked(ctx.ip);
    },
  },
  {
    name: 'find-endpoint',
    run(ctx, rt) {
      const own = rt.ownEndpoints.get(ctx.path);
      if (own) {
        ctx.endpoint = own;
        return undefined;
      }
      if (ctx.path === '/auth' || ctx.path.startsWith('/auth/')) {
        const slash = ctx.path.lastIndexOf('/');
        const item = slash > 0 && slash < ctx.path.length - 1 ? rt.ownItemEndpoints.get(ctx.path.slice(0, slash)) : undefined;
        if (!item) return new GatewayError('not_found');
        ctx.endpoint = item;
        return undefined;
      }
      const match = rt.routes.match(ctx.path);
      if (match) {
        ctx.endpoint = rt.routeEndpoints[match.index]!;
        return undefined;
      }
      return rt.staticSite ? findStaticFile(ctx, rt.staticSite) : new GatewayError('not_found');
    },
  },
  {
    name: 'method',
    run(ctx) {
      const allowed = ctx.endpoint!.methods;
      if (allowed.has(ctx.method)) return undefined;
      return new GatewayError('method_not_allowed', { headers: { allow: [...allowed].join(', ') } });
    },
  },
  {
    name: 'upgrade',
    run(ctx) {
      // SPEC §10: only a `websocket: true` route takes an upgrade, and only to WebSocket; any other
      // (h2c, or a socket to a plain route) is refused rather than tunnelled past the checks.
      if (!ctx.upgrade) return undefined;
      if (ctx.endpoint!.websocket && ctx.req.headers.upgrade?.toLowerCase() === 'websocket') return undefined;
      return new GatewayError('bad_request', { message: 'This path does not accept WebSocket upgrades.' });
    },
  },
  {
    name: 'session',
    run(ctx, rt) {
      const endpoint = ctx.endpoint!;
      if (endpoint.access === 'public') return undefined;
      const found = readSessionCookie(ctx.req.headers.cookie, rt.cookie.name);
      if (found.kind === 'one') {
        // A session this process remembers is answered at once; anything else asks the store.
        const sessions = rt.services.sessions;
        const known = sessions.validateNow(found.value);
        // null: a value that cannot be a session of ours, answered without either.
        if (known !== null) rt.metrics?.sessionLookup(known !== undefined);
        return known === undefined ? sessions.validate(found.value).then((live) => presented(ctx, live)) : presented(ctx, known);
      }
      if (found.kind === 'ambiguous') ctx.staleCookie = true;
      return endpoint.access === 'optional' ? undefined : new GatewayError('unauthenticated');
    },
  },
  {
    name: 'oidc-refresh',
    run(ctx, rt) {
      // SPEC §9 "Before the access token expires it is refreshed": on every request of the session
      // that counts as its activity, whatever the route, so a grant the provider ended ends the
      // session on its next such request anywhere. Not on those that do not count (SPEC §4.1:
      // reading the session, logging in or out): logout must not rotate tokens it is about to drop.
      const live = ctx.live;
      const userTokens = rt.userTokens;
      if (!live || !userTokens || !ctx.endpoint!.touches) return undefined;
      const known = userTokens.currentNow(live.session.handle);
      if (known !== undefined) {
        ctx.oidc = known;
        return undefined;
      }
      return userTokens.current(live.session.handle).then((held) => {
        ctx.oidc = held;
        return undefined;
      }, (error: unknown) => refreshFailed(ctx, rt, error));
    },
  },
  {
    name: 'session-restrictions',
    run(ctx) {
      const live = ctx.live;
      if (!live) return undefined;
      const allows = ctx.endpoint!.allows;
      // SPEC §4.5: a session whose second factor is due reaches only what lets it finish logging in.
      // Until then a password change that is also due waits (it is asked for next), so the second
      // factor's own endpoints stay reachable for a session that owes both.
      if (live.session.mfaPending) {
        const enrolling = !live.user.mfaEnabled;
        return (enrolling ? allows.mfaEnrolment : allows.mfaPending) ? undefined : new GatewayError('mfa_required');
      }
      if (live.session.passwordResetRequired && !allows.passwordReset) return new GatewayError('password_reset_required');
      return undefined;
    },
  },
  {
    name: 'csrf',
    run(ctx, rt) {
      const endpoint = ctx.endpoint!;
      // SPEC §10: a browser cannot add X-CSRF to a WebSocket, and a cross-site page's socket would
      // carry the cookie (Cross-Site WebSocket Hijacking): the Origin must be ours, on every
      // upgrade, whatever `csrf` says, and is checked before the upstream is contacted.
      if (ctx.upgrade) {
        const origin = ctx.req.headers.origin;
        if (origin === rt.config.server.publicOrigin) return undefined;
        return refuseCsrf(ctx, rt, origin === undefined ? 'missing_origin' : 'foreign_origin', endpoint.id);
      }
      if (!endpoint.csrf) return undefined;
      const h = ctx.req.headers;
      const verdict = checkCsrf({ xCsrf: h['x-csrf'], origin: h.origin, secFetchSite: h['sec-fetch-site'] }, rt.config.server.publicOrigin);
      if (verdict.ok) return undefined;
      return refuseCsrf(ctx, rt, verdict.reason, endpoint.id);
    },
  },
  {
    name: 'roles',
    run(ctx) {
      const roles = ctx.endpoint!.roles;
      const user = ctx.live?.user;
      if (!roles || !user) return undefined;
      return roles.some((role) => user.roles.includes(role)) ? undefined : new GatewayError('forbidden');
    },
  },
  {
    name: 'step-up',
    run(ctx) {
      // A route with `mfa: true` needs a session that completed a second factor (SPEC §4.5).
      const demand = ctx.endpoint!.mfa;
      const live = ctx.live;
      if (!demand || !live || live.session.mfaCompleted) return undefined;
      if (demand === 'if-enrolled' && !live.user.mfaEnabled) return undefined;
      return new GatewayError('mfa_required', { status: 403, message: 'This needs a session that completed a second factor.' });
    },
  },
  {
    name: 'rate-rules',
    async run(ctx, rt) {
      if (rt.rateRules.size === 0) return undefined;
      const verdict = await rt.rateRules.check(ctx);
      switch (verdict.kind) {
        case 'pass':
          return undefined;
        case 'error':
          return verdict.error;
        case 'revoked':
          ctx.live = null;
          ctx.staleCookie = true;
          return new GatewayError('unauthenticated');
        case 'respond':
          ctx.res.writeHead(verdict.status, { ...rt.respond.base, ...verdict.headers, 'x-request-id': ctx.requestId, 'content-length': Buffer.byteLength(verdict.body) });
          ctx.res.end(verdict.body);
          return 'answered';
      }
    },
  },
  {
    name: 'activity',
    run(ctx, rt) {
      // A write-through (near the idle deadline, session-service.ts) is waited for: the request
      // counts as activity on every node only once the store holds it, and a session ended
      // meanwhile (by idleness on another node, or revoked) no longer serves it.
      const writing = ctx.live && ctx.endpoint!.touches ? rt.services.sessions.touch(ctx.live.session) : null;
      return writing ? writing.then((stillLive) => (stillLive ? undefined : lostSession(ctx))) : undefined;
    },
  },
];

/** The session behind the one cookie presented, or null: then the cookie is cleared (SPEC §4.2). */
function presented(ctx: RequestContext, live: LiveSession | null): StageResult {
  ctx.live = live;
  if (live) return undefined;
  ctx.staleCookie = true;
  return ctx.endpoint!.access === 'optional' ? undefined : new GatewayError('unauthenticated');
}

/**
 * SPEC §9: the provider refused the refresh token (`invalid_grant`), the session is past its refresh
 * token's lifetime, or a refresh mapped to no role under requireRole: the session ends the normal
 * way (announced to every process and node, audited) and the request gets 401 session_expired with
 * the cookie cleared; every caller of the refused refresh ends it, all but the first find it ended.
 * The provider could not be reached: the session stays, and only a route that sends the user's
 * token answers 503 idp_unavailable (proxy-endpoint.ts); the others do not need the provider, so an
 * outage of it does not take them down. Anything else (the store) ends the request.
 */
async function refreshFailed(ctx: RequestContext, rt: Runtime, error: unknown): Promise<StageResult> {
  if (error instanceof GatewayError && error.code === 'idp_unavailable') {
    ctx.oidcUnavailable = error;
    return undefined;
  }
  if (!(error instanceof GatewayError) || error.code !== 'session_expired') throw error;
  const reason = error instanceof SessionEnded ? error.reason : 'refresh_rejected';
  await rt.services.sessions.revoke(ctx.live!.session, { user: 'gatehouse', ip: ctx.ip, requestId: ctx.requestId }, reason);
  ctx.live = null;
  ctx.staleCookie = true;
  return ctx.endpoint!.access === 'optional' ? undefined : error;
}

/** The session vanished between validation and activity: as if the cookie had been stale from the start. */
function lostSession(ctx: RequestContext): StageResult {
  ctx.live = null;
  ctx.staleCookie = true;
  return ctx.endpoint!.access === 'optional' ? undefined : new GatewayError('unauthenticated');
}

/**
 * Headers for a response that ends the request early (an error, a rule's own answer): its id, and
 * a stale cookie is cleared (SPEC §4.2).
 */
export function outcomeHeaders(ctx: RequestContext, rt: Runtime): Record<string, string> {
  const headers: Record<string, string> = { 'x-request-id': ctx.requestId };
  if (ctx.staleCookie && !ctx.res.hasHeader('set-cookie')) headers['set-cookie'] = buildClearingCookie(rt.cookie);
  return headers;
}

/** The static site is the last resort of routing, and the only part that needs a file system look-up. */
async function findStaticFile(ctx: RequestContext, site: StaticSite): Promise<StageResult> {
  const file = await site.resolve(ctx.path);
  if (!file) return new GatewayError('not_found');
  ctx.endpoint = site.endpoint(file);
  return undefined;
}

/** SPEC §4.6: the probes a load balancer polls, exempt from the Host check and from rule blocks. */
function isHealthPath(path: string): boolean {
  return path === '/healthz' || path === '/readyz';
}

function hostLines(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}

async function refuseAddress(ctx: RequestContext, rt: Runtime): Promise<GatewayError> {
  await rt.refusals.record('ip_blocked', 'ip_rules', { ip: ctx.ip, requestId: ctx.requestId });
  return new GatewayError('ip_blocked');
}

async function refusePreflight(ctx: RequestContext, rt: Runtime): Promise<GatewayError> {
  await rt.refusals.record('csrf_rejected', 'preflight', { ip: ctx.ip, requestId: ctx.requestId }, { reason: 'preflight' });
  return new GatewayError('csrf_rejected', { message: 'Cross-origin requests are not allowed.' });
}

async function refuseCsrf(ctx: RequestContext, rt: Runtime, reason: string, endpoint: string): Promise<GatewayError> {
  await rt.refusals.record('csrf_rejected', reason, { user: ctx.live?.user.name ?? null, ip: ctx.ip, requestId: ctx.requestId }, { reason, endpoint });
  return new GatewayError('csrf_rejected');
}
