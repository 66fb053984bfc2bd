import type { AccountService } from '../accounts/account-service.js';
import type { LoginThrottle, ThrottleStart } from '../accounts/login-throttle.js';
import type { UserRecord } from '../accounts/user-store.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { PasskeyService } from '../mfa/passkey-service.js';
import type { ProviderLogout } from '../oidc/provider-logout.js';
import type { TotpService } from '../mfa/totp-service.js';
import type { CounterStore } from '../rules/counter-store.js';
import type { Clock } from '../security/clock.js';
import { buildSessionCookie, type SessionCookiePolicy } from '../security/cookies.js';
import type { SessionPatch, SessionRecord } from '../sessions/session-store.js';
import type { SessionService } from '../sessions/session-service.js';
import type { RequestContext } from './context.js';
import type { Endpoint } from './endpoint.js';
import type { Responder } from './respond.js';

/** What the /auth endpoints work with, built once by the composition root. */
export interface AuthDeps {
  accounts: AccountService;
  /** Login protection (SPEC §5): guards every check of a password or code for an account. */
  throttle: LoginThrottle;
  sessions: SessionService;
  totp: TotpService;
  passkeys: PasskeyService;
  counters: CounterStore;
  clock: Clock;
  audit: AuditLog;
  cookie: SessionCookiePolicy;
  respond: Responder;
  maxBodySize: number;
  /** `mfa.required`: a password login without an enrolled factor must enrol one first. */
  mfaRequired: boolean;
  /** The provider's part of logging out an OIDC session (SPEC §9); absent where no provider is configured. */
  providerLogout?: ProviderLogout;
}

/** An /auth endpoint: the defaults every one of them shares, spelled out where they differ. */
export function authEndpoint(spec: Pick<Endpoint, 'id' | 'methods' | 'access' | 'allows' | 'handle'> & Partial<Pick<Endpoint, 'csrf' | 'touches' | 'mfa'>>): Endpoint {
  const safe = [...spec.methods].every((m) => m === 'GET' || m === 'HEAD');
  // SPEC §4.3: every non-GET request to /auth/* carries the CSRF checks.
  return { csrf: !safe, touches: true, roles: null, mfa: false, ...spec };
}

export const auditContext = (ctx: RequestContext, user: string | null = ctx.live?.user.name ?? null): AuditContext => ({ user, ip: ctx.ip, requestId: ctx.requestId });

export const publicUser = (user: UserRecord): { name: string; roles: string[] } => ({ name: user.name, roles: user.roles });

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** 429 with Retry-After in whole seconds (SPEC §5); the same for every account name, existing or not. */
export function tooManyAttempts(retryAfterSeconds: number): GatewayError {
  return new GatewayError('too_many_attempts', { headers: { 'retry-after': String(retryAfterSeconds) } });
}

/** One audit event per throttle a failure switched on; refusals themselves are not audited. */
export async function recordThrottleStarts(deps: AuthDeps, ctx: RequestContext, account: string, started: readonly ThrottleStart[]): Promise<void> {
  for (const start of started) {
    await deps.audit.record('login_throttled', auditContext(ctx, start.scope === 'account' ? account.slice(0, 64) : null), {
      scope: start.scope,
      failures: start.failures,
      retryAfterSeconds: start.retryAfterSeconds,
      endpoint: ctx.endpoint?.id ?? null,
    });
  }
}

export function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/**
 * Starts a brand-new session for a user who just proved who they are, ending any session the
 * request presented: a cookie from before login is never promoted (SPEC §4.2, session fixation).
 * Returns the Set-Cookie header value.
 */
export async function startSession(deps: AuthDeps, ctx: RequestContext, user: UserRecord, flags: SessionPatch): Promise<string> {
  return (await beginSession(deps, ctx, user, flags)).setCookie;
}

/** startSession, also answering the new session (its handle keys what else a login stores). `detail` joins the audit event. */
export async function beginSession(deps: AuthDeps, ctx: RequestContext, user: UserRecord, flags: SessionPatch, detail: Record<string, string> = {}): Promise<{ setCookie: string; session: SessionRecord }> {
  if (ctx.live) await deps.sessions.revoke(ctx.live.session, auditContext(ctx, user.name), 'new_login');
  const issued = await deps.sessions.create(user, { ip: ctx.ip, userAgent: headerText(ctx.req.headers['user-agent']) }, flags);
  await deps.accounts.recordLogin(user.name);
  await deps.audit.record('login_succeeded', auditContext(ctx, user.name), { session: issued.session.handle, factors: flags.mfaCompleted ? 2 : 1, ...detail });
  return { setCookie: buildSessionCookie(deps.cookie, issued.token), session: issued.session };
}

/**
 * The session completed a second factor: it moves to a new id (SPEC §4.2: completing MFA issues a
 * new id) with the restriction lifted. Returns the Set-Cookie header value.
 */
export async function completeSecondFactor(deps: AuthDeps, ctx: RequestContext): Promise<string> {
  const rotated = await deps.sessions.rotate(ctx.live!.session, { mfaPending: false, mfaCompleted: true });
  if (!rotated) throw new GatewayError('unauthenticated');
  return buildSessionCookie(deps.cookie, rotated.token);
}

/**
 * SPEC §9: a user a provider created has no password (an empty hash, which never verifies) and
 * signs in only at its provider: no local password change, no local factor to enrol.
 */
export function requireLocalAccount(user: UserRecord): void {
  if (user.passwordHash === '') throw new GatewayError('not_local_account');
}
