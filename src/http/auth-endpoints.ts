import { z } from 'zod';
import type { AccountService } from '../accounts/account-service.js';
import type { LoginThrottle, ThrottleStart } from '../accounts/login-throttle.js';
import type { UserRecord } from '../accounts/user-store.js';
import type { AuditLog } from '../audit/audit-log.js';
import { GatewayError } from '../errors/gateway-error.js';
import { buildClearingCookie, buildSessionCookie, readSessionCookie, type SessionCookiePolicy } from '../security/cookies.js';
import type { SessionService } from '../sessions/session-service.js';
import type { RequestContext } from './context.js';
import type { Endpoint } from './endpoint.js';
import { readJson } from './read-json.js';
import type { Responder } from './respond.js';

export interface AuthDeps {
  accounts: AccountService;
  /** Login protection (SPEC §5): guards every check of a password for an account. */
  throttle: LoginThrottle;
  sessions: SessionService;
  audit: AuditLog;
  cookie: SessionCookiePolicy;
  respond: Responder;
  maxBodySize: number;
}

/** Bounded so a multi-megabyte "password" cannot make the hasher work harder (argon2 hashes its input). */
const loginBody = z.object({ username: z.string().min(1).max(256), password: z.string().max(4096) });
const passwordBody = z.object({ currentPassword: z.string().max(4096), newPassword: z.string().max(4096) });

const iso = (ms: number): string => new Date(ms).toISOString();
const publicUser = (user: UserRecord): { name: string; roles: string[] } => ({ name: user.name, roles: user.roles });

/** The /auth endpoints of SPEC §4.1, each declaring its access level. Path → endpoint. */
export function authEndpoints(deps: AuthDeps): Map<string, Endpoint> {
  const { accounts, throttle, sessions, audit, cookie, respond } = deps;
  const context = (ctx: RequestContext, user: string | null = ctx.live?.user.name ?? null) => ({ user, ip: ctx.ip, requestId: ctx.requestId });
  /** One audit event per throttle a failure switched on; refusals themselves are not audited. */
  const recordStarts = async (ctx: RequestContext, account: string, started: readonly ThrottleStart[]): Promise<void> => {
    for (const start of started) {
      await audit.record('login_throttled', context(ctx, start.scope === 'account' ? account.slice(0, 64) : null), {
        scope: start.scope,
        failures: start.failures,
        retryAfterSeconds: start.retryAfterSeconds,
        endpoint: ctx.endpoint?.id ?? null,
      });
    }
  };

  const login: Endpoint = {
    id: 'auth.login',
    methods: new Set(['POST']),
    // `optional`: a session presented at login is looked up only so that it can be ended.
    access: 'optional',
    allows: { passwordReset: true, mfaPending: true },
    csrf: true,
    touches: false,
    roles: null,
    async handle(ctx) {
      const body = await readJson(ctx.req, loginBody, deps.maxBodySize);
      // The throttle decides before any password is checked (SPEC §5: "no password is checked").
      const attempt = await throttle.guard(body.username, ctx.ip, () => accounts.authenticate(body.username, body.password));
      if (attempt.outcome === 'throttled') throw tooManyAttempts(attempt.retryAfterSeconds);
      if (attempt.outcome === 'failed') {
        await audit.record('login_failed', context(ctx, body.username.slice(0, 64)), {});
        await recordStarts(ctx, body.username, attempt.started);
        throw new GatewayError('invalid_credentials');
      }
      const user = attempt.value;
      // A session presented before login is never promoted (SPEC §4.2, session fixation): end it
      // and issue a fresh id.
      if (ctx.live) await sessions.revoke(ctx.live.session, context(ctx, user.name), 'new_login');
      const issued = await sessions.create(
        user,
        { ip: ctx.ip, userAgent: headerText(ctx.req.headers['user-agent']) },
        { passwordResetRequired: user.passwordResetRequired },
      );
      await accounts.recordLogin(user.name);
      await audit.record('login_succeeded', context(ctx, user.name), { session: issued.session.handle });
      respond.json(ctx.res, 200, {
        user: publicUser(user),
        mfaRequired: false,
        passwordResetRequired: user.passwordResetRequired,
      }, { 'set-cookie': buildSessionCookie(cookie, issued.token) });
    },
  };

  const logout: Endpoint = {
    id: 'auth.logout',
    methods: new Set(['POST']),
    access: 'optional',
    allows: { passwordReset: true, mfaPending: true },
    csrf: true,
    touches: false,
    roles: null,
    async handle(ctx) {
      if (ctx.live) await sessions.end(ctx.live.session, context(ctx));
      // With two session cookies neither grants access, but logging out must still end a valid
      // one: otherwise a planted second cookie keeps a stolen session alive through logout.
      const found = readSessionCookie(ctx.req.headers.cookie, cookie.name);
      if (found.kind === 'ambiguous') {
        for (const value of found.values) {
          const live = await sessions.validate(value);
          if (live) await sessions.end(live.session, context(ctx, live.user.name));
        }
      }
      respond.empty(ctx.res, 204, { 'set-cookie': buildClearingCookie(cookie) });
    },
  };

  const session: Endpoint = {
    id: 'auth.session',
    methods: new Set(['GET', 'HEAD']),
    access: 'session',
    allows: { passwordReset: true, mfaPending: true },
    csrf: false,
    touches: false,
    roles: null,
    async handle(ctx) {
      const live = ctx.live!;
      respond.json(ctx.res, 200, {
        user: publicUser(live.user),
        session: {
          createdAt: iso(live.session.createdAt),
          expiresAt: iso(live.session.expiresAt),
          idleExpiresAt: iso(sessions.idleExpiresAt(live.session)),
        },
      });
    },
  };

  const password: Endpoint = {
    id: 'auth.password',
    methods: new Set(['POST']),
    access: 'session',
    allows: { passwordReset: true, mfaPending: false },
    csrf: true,
    touches: true,
    roles: null,
    async handle(ctx) {
      const live = ctx.live!;
      const body = await readJson(ctx.req, passwordBody, deps.maxBodySize);
      // A wrong current password is a password guess like a failed login: with a stolen session an
      // attacker could otherwise try passwords here unthrottled. It counts for the account and the
      // address; a right one (even with a weak new password) resets the account like a login.
      const attempt = await throttle.guard(live.user.name, ctx.ip, async () => {
        const changed = await accounts.changePassword(live.user.name, body.currentPassword, body.newPassword);
        return changed === 'invalid_credentials' ? null : changed;
      });
      if (attempt.outcome === 'throttled') throw tooManyAttempts(attempt.retryAfterSeconds);
      if (attempt.outcome === 'failed') {
        await recordStarts(ctx, live.user.name, attempt.started);
        throw new GatewayError('invalid_credentials');
      }
      if (attempt.value === 'weak_password') throw new GatewayError('weak_password');
      await sessions.revokeUser(live.user.name, context(ctx), 'password_changed', live.session);
      const rotated = await sessions.rotate(live.session, { passwordResetRequired: false });
      if (!rotated) throw new GatewayError('unauthenticated');
      respond.empty(ctx.res, 204, { 'set-cookie': buildSessionCookie(cookie, rotated.token) });
    },
  };

  return new Map([
    ['/auth/login', login],
    ['/auth/logout', logout],
    ['/auth/session', session],
    ['/auth/password', password],
  ]);
}

/** 429 with Retry-After in whole seconds (SPEC §5); the same for every account name, existing or not. */
function tooManyAttempts(retryAfterSeconds: number): GatewayError {
  return new GatewayError('too_many_attempts', { headers: { 'retry-after': String(retryAfterSeconds) } });
}

function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}
