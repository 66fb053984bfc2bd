import { z } from 'zod';
import type { UserRecord } from '../accounts/user-store.js';
import { GatewayError } from '../errors/gateway-error.js';
import { buildClearingCookie, buildSessionCookie, readSessionCookie } from '../security/cookies.js';
import { anyState, unrestricted, type Endpoint } from './endpoint.js';
import { auditContext, authEndpoint, requireLocalAccount, iso, publicUser, recordThrottleStarts, startSession, tooManyAttempts, type AuthDeps } from './auth-support.js';
import { readJson } from './read-json.js';

/** Bounded so a multi-megabyte "password" cannot make the hasher work harder (argon2 hashes its input). */
const loginBody = z.object({ username: z.string().min(1).max(256), password: z.string().max(4096) });
const passwordBody = z.object({ currentPassword: z.string().max(4096), newPassword: z.string().max(4096) });

/** The /auth endpoints of SPEC §4.1, each declaring its access level. Path → endpoint. */
export function authEndpoints(deps: AuthDeps): Map<string, Endpoint> {
  const { accounts, throttle, sessions, audit, cookie, respond } = deps;

  const login = authEndpoint({
    id: 'auth.login',
    methods: new Set(['POST']),
    // `optional`: a session presented at login is looked up only so that it can be ended.
    access: 'optional',
    allows: anyState,
    touches: false,
    async handle(ctx) {
      const body = await readJson(ctx.req, loginBody, deps.maxBodySize);
      // The throttle decides before any password is checked (SPEC §5: "no password is checked").
      // SPEC §4.5: with TOTP enrolled the second factor is due now; with `mfa.required` every
      // password login must complete one (a user with none enrols first; a passkey-only user signs
      // in with the passkey instead).
      const secondFactorDue = async (user: UserRecord): Promise<boolean> => deps.mfaRequired || (await deps.totp.isEnrolled(user.name));
      let mfaRequired = false;
      const attempt = await throttle.guard(body.username, ctx.ip, async () => {
        const user = await accounts.authenticate(body.username, body.password);
        if (user) mfaRequired = await secondFactorDue(user);
        return user;
      }, { resetsFailures: () => !mfaRequired });
      if (attempt.outcome === 'throttled') throw tooManyAttempts(attempt.retryAfterSeconds);
      if (attempt.outcome === 'failed') {
        await audit.record('login_failed', auditContext(ctx, body.username.slice(0, 64)), {});
        await recordThrottleStarts(deps, ctx, body.username, attempt.started);
        throw new GatewayError('invalid_credentials');
      }
      const user = attempt.value;
      const setCookie = await startSession(deps, ctx, user, { passwordResetRequired: user.passwordResetRequired, mfaPending: mfaRequired });
      respond.json(ctx.res, 200, {
        user: publicUser(user),
        mfaRequired,
        passwordResetRequired: user.passwordResetRequired,
      }, { 'set-cookie': setCookie });
    },
  });

  const logout = authEndpoint({
    id: 'auth.logout',
    methods: new Set(['POST']),
    access: 'optional',
    allows: anyState,
    touches: false,
    async handle(ctx) {
      // Read first: the record outlives the session only until housekeeping.
      const oidc = ctx.live && deps.providerLogout ? await deps.providerLogout.recordOf(ctx.live.session) : null;
      if (ctx.live) await sessions.end(ctx.live.session, auditContext(ctx));
      // With two session cookies neither grants access, but logging out must still end a valid
      // one: otherwise a planted second cookie keeps a stolen session alive through logout.
      const found = readSessionCookie(ctx.req.headers.cookie, cookie.name);
      if (found.kind === 'ambiguous') {
        for (const value of found.values) {
          const live = await sessions.validate(value);
          if (live) await sessions.end(live.session, auditContext(ctx, live.user.name));
        }
      }
      // SPEC §9: a session that logged in at a provider ends there too, once it has ended here; the
      // browser is given the provider's end-session URL (the one place its ID token may appear).
      const logoutUrl = oidc ? await deps.providerLogout!.finish(oidc) : null;
      if (logoutUrl !== null) respond.json(ctx.res, 200, { logoutUrl }, { 'set-cookie': buildClearingCookie(cookie) });
      else respond.empty(ctx.res, 204, { 'set-cookie': buildClearingCookie(cookie) });
    },
  });

  const session = authEndpoint({
    id: 'auth.session',
    methods: new Set(['GET', 'HEAD']),
    access: 'session',
    allows: anyState,
    // SPEC §4.1: reading the session does not count as activity.
    touches: false,
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
  });

  const password = authEndpoint({
    id: 'auth.password',
    methods: new Set(['POST']),
    access: 'session',
    allows: { ...unrestricted, passwordReset: true },
    async handle(ctx) {
      const live = ctx.live!;
      requireLocalAccount(live.user);
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
        await recordThrottleStarts(deps, ctx, live.user.name, attempt.started);
        throw new GatewayError('invalid_credentials');
      }
      if (attempt.value === 'weak_password') throw new GatewayError('weak_password');
      await sessions.revokeUser(live.user.name, auditContext(ctx), 'password_changed', live.session);
      const rotated = await sessions.rotate(live.session, { passwordResetRequired: false });
      if (!rotated) throw new GatewayError('unauthenticated');
      respond.empty(ctx.res, 204, { 'set-cookie': buildSessionCookie(cookie, rotated.token) });
    },
  });

  return new Map([
    ['/auth/login', login],
    ['/auth/logout', logout],
    ['/auth/session', session],
    ['/auth/password', password],
  ]);
}
