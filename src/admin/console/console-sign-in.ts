import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import type { UserRecord } from '../../accounts/user-store.js';
import type { Services } from '../../app/open-services.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { headerText, tooManyAttempts } from '../../http/auth-support.js';
import { readJson } from '../../http/read-json.js';
import type { Responder } from '../../http/respond.js';
import type { PasskeyService } from '../../mfa/passkey-service.js';
import { buildClearingCookie, buildSessionCookie, readSessionCookie, type SessionCookiePolicy } from '../../security/cookies.js';
import type { AdminContext } from '../admin-server.js';
import type { ConsoleGate } from './console-gate.js';

const signInBody = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().max(4096),
  code: z.string().max(16),
});

const passkeyOptionsBody = z.strictObject({ username: z.string().max(256).optional() });
const passkeyBody = z.strictObject({ response: z.record(z.string(), z.unknown()) });

export interface SignInDeps {
  services: Services;
  /**
   * Passkeys checked against the admin origin (the relying-party id is its host): a passkey
   * registered on the public site works here when both origins share the host name (e.g.
   * localhost:8080 and localhost:9090); off when admin.publicOrigin names an IP address.
   */
  passkeys: PasskeyService;
  throttle: LoginThrottle;
  gate: ConsoleGate;
  cookie: SessionCookiePolicy;
  respond: Responder;
}

/**
 * POST /api/login: password and TOTP code in one step, through the same services as /auth/login and
 * /auth/mfa/verify (AccountService, TotpService, LoginThrottle, SessionService), so the same
 * throttling, replay refusal and session rules apply. The session is created with the second factor
 * completed; only an `admin` with TOTP enrolled gets one. Passkey sign-in is not offered here yet.
 */
export async function signIn(req: IncomingMessage, res: ServerResponse, ctx: AdminContext, deps: SignInDeps): Promise<void> {
  const { services, throttle, gate } = deps;
  await gate.csrf(req, ctx, null);
  const body = await readJson(req, signInBody, 16 * 1024);
  let refusal: string | null = null;
  const attempt = await throttle.guard(body.username, ctx.ip, async (): Promise<UserRecord | null> => {
    const user = await services.accounts.authenticate(body.username, body.password);
    if (!user) return null;
    if (!user.roles.includes('admin')) refusal = 'not_admin';
    else if (!(await services.totp.isEnrolled(user.name))) refusal = 'no_second_factor';
    else if (user.passwordResetRequired) refusal = 'password_reset_required';
    if (refusal !== null) return user;
    // A wrong code counts as a failure for the account, as on /auth/mfa/verify (SPEC §5).
    return (await services.totp.verify(user.name, body.code)) ? user : null;
  });
  if (attempt.outcome === 'throttled') throw tooManyAttempts(attempt.retryAfterSeconds);
  if (attempt.outcome === 'failed') {
    await services.audit.record('login_failed', gate.actor(ctx, body.username.slice(0, 64)), { console: true });
    throw new GatewayError('invalid_credentials');
  }
  const user = attempt.value;
  if (refusal !== null) {
    await gate.refused(ctx, user.name, refusal);
    throw new GatewayError('forbidden', { message: 'The console is for administrators who completed a second factor.' });
  }
  await startConsoleSession(req, res, ctx, deps, user, 'totp');
}

/** POST /api/passkey/options: WebAuthn request options for the console's origin (as /auth/passkeys/login/options). */
export async function passkeyOptions(req: IncomingMessage, res: ServerResponse, ctx: AdminContext, deps: SignInDeps): Promise<void> {
  await deps.gate.csrf(req, ctx, null);
  if (!deps.passkeys.enabled) throw new GatewayError('not_found', { message: 'Passkeys need a host name in admin.publicOrigin.' });
  const body = await readJson(req, passkeyOptionsBody, 16 * 1024);
  deps.respond.json(res, 200, await deps.passkeys.authenticationOptions(body.username));
}

/**
 * POST /api/passkey/verify: a passkey with user verification is both factors (SPEC §4.5), through
 * PasskeyService as /auth/passkeys/login/verify (one-use challenge, counter check, origin check).
 */
export async function passkeySignIn(req: IncomingMessage, res: ServerResponse, ctx: AdminContext, deps: SignInDeps): Promise<void> {
  const { services, gate } = deps;
  await gate.csrf(req, ctx, null);
  const body = await readJson(req, passkeyBody, 64 * 1024).catch(() => {
    throw new GatewayError('invalid_credentials');
  });
  const verified = deps.passkeys.enabled ? await deps.passkeys.verifyAuthentication(body.response as never) : null;
  const user = verified ? await services.accounts.get(verified.userName) : null;
  if (!user || user.locked) {
    await services.audit.record('login_failed', gate.actor(ctx, null), { method: 'passkey', console: true });
    throw new GatewayError('invalid_credentials');
  }
  const refusal = !user.roles.includes('admin') ? 'not_admin' : user.passwordResetRequired ? 'password_reset_required' : null;
  if (refusal !== null) {
    await gate.refused(ctx, user.name, refusal);
    throw new GatewayError('forbidden', { message: 'The console is for administrators who completed a second factor.' });
  }
  await startConsoleSession(req, res, ctx, deps, user, 'passkey');
}

async function startConsoleSession(req: IncomingMessage, res: ServerResponse, ctx: AdminContext, deps: SignInDeps, user: UserRecord, method: string): Promise<void> {
  const { services, gate } = deps;
  // A console cookie presented before sign-in is never promoted (SPEC §4.2, session fixation).
  const before = readSessionCookie(req.headers.cookie, deps.cookie.name);
  if (before.kind === 'one') {
    const live = await services.sessions.validate(before.value);
    if (live) await services.sessions.revoke(live.session, gate.actor(ctx, live.user.name), 'new_login');
  }
  const issued = await services.sessions.create(user, { ip: ctx.ip, userAgent: headerText(req.headers['user-agent']) }, { mfaCompleted: true });
  await services.accounts.recordLogin(user.name);
  await services.audit.record('login_succeeded', gate.actor(ctx, user.name), { session: issued.session.handle, factors: 2, method, console: true });
  deps.respond.json(res, 200, { user: { name: user.name, roles: user.roles } }, { 'set-cookie': buildSessionCookie(deps.cookie, issued.token) });
}

/** POST /api/logout: ends the console session; idempotent like /auth/logout. */
export async function signOut(req: IncomingMessage, res: ServerResponse, ctx: AdminContext, deps: SignInDeps): Promise<void> {
  await deps.gate.csrf(req, ctx, null);
  const found = readSessionCookie(req.headers.cookie, deps.cookie.name);
  if (found.kind === 'one') {
    const live = await deps.services.sessions.validate(found.value);
    if (live) await deps.services.sessions.end(live.session, deps.gate.actor(ctx, live.user.name));
  }
  deps.respond.empty(res, 204, { 'set-cookie': buildClearingCookie(deps.cookie) });
}
