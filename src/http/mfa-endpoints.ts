import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import { unrestricted, type Endpoint } from './endpoint.js';
import { auditContext, authEndpoint, completeSecondFactor, publicUser, requireLocalAccount, recordThrottleStarts, tooManyAttempts, type AuthDeps } from './auth-support.js';
import { readJson } from './read-json.js';
import type { RequestContext } from './context.js';

const codeBody = z.object({ code: z.string().max(64) });
const verifyBody = z.union([z.object({ code: z.string().max(64) }), z.object({ recoveryCode: z.string().max(64) })]);
const passwordBody = z.object({ password: z.string().max(4096) });

/** SPEC §4.5: the fifth wrong code ends the pending session. */
const maxWrongCodes = 5;

/** The user's second factors, TOTP enrolment and the second-factor step of SPEC §4.5. Path → endpoint. */
export function mfaEndpoints(deps: AuthDeps): Map<string, Endpoint> {
  const { totp, sessions, throttle, respond, audit } = deps;

  const status = authEndpoint({
    id: 'auth.mfa.status',
    methods: new Set(['GET', 'HEAD']),
    access: 'session',
    // Full sessions only. A pending session may call only verify, session and logout (SPEC §4.5):
    // telling someone with just the password which factors the account has (say, that recovery
    // codes are left) would help them pick what to attack. A session owing a new password may call
    // only session, password and logout (SPEC §4.1).
    allows: unrestricted,
    async handle(ctx) {
      const name = ctx.live!.user.name;
      // `totp` is a confirmed enrolment only: a pending setup protects nothing yet.
      const [totpOn, passkeys, recoveryCodesLeft] = await Promise.all([totp.isEnrolled(name), deps.passkeys.list(name), totp.remainingRecoveryCodes(name)]);
      respond.json(ctx.res, 200, { totp: totpOn, passkeys: passkeys.length, recoveryCodesLeft });
    },
  });

  const setup = authEndpoint({
    id: 'auth.mfa.totp.setup',
    methods: new Set(['POST']),
    access: 'session',
    allows: { ...unrestricted, mfaEnrolment: true },
    mfa: 'if-enrolled',
    async handle(ctx) {
      requireLocalAccount(ctx.live!.user);
      const enrolment = await totp.setup(ctx.live!.user.name);
      if (enrolment === 'already_enabled') throw new GatewayError('mfa_already_enabled');
      respond.json(ctx.res, 200, enrolment);
    },
  });

  const confirm = authEndpoint({
    id: 'auth.mfa.totp.confirm',
    methods: new Set(['POST']),
    access: 'session',
    allows: { ...unrestricted, mfaEnrolment: true },
    async handle(ctx) {
      const body = await readJson(ctx.req, codeBody, deps.maxBodySize);
      const confirmed = await totp.confirm(ctx.live!.user.name, body.code);
      if (confirmed === 'invalid_code') throw new GatewayError('invalid_code');
      // The code just proved possession of the factor: this session has completed it.
      const setCookie = await completeSecondFactor(deps, ctx);
      respond.json(ctx.res, 200, { recoveryCodes: confirmed.recoveryCodes }, { 'set-cookie': setCookie });
    },
  });

  const verify = authEndpoint({
    id: 'auth.mfa.verify',
    methods: new Set(['POST']),
    access: 'session',
    allows: { ...unrestricted, mfaPending: true },
    async handle(ctx) {
      const live = ctx.live!;
      if (!live.session.mfaPending) throw new GatewayError('bad_request', { message: 'No second factor is due in this session.' });
      const body = await readJson(ctx.req, verifyBody, deps.maxBodySize);
      const name = live.user.name;
      // Wrong codes count as failed logins for the account (SPEC §5), so guessing is throttled
      // across sessions too, not only by the five-per-session limit below.
      const attempt = await throttle.guard(name, ctx.ip, async () => {
        const ok = 'code' in body ? await totp.verify(name, body.code) : await totp.useRecoveryCode(name, body.recoveryCode);
        return ok ? true : null;
      });
      if (attempt.outcome === 'throttled') throw tooManyAttempts(attempt.retryAfterSeconds);
      if (attempt.outcome === 'failed') {
        await recordThrottleStarts(deps, ctx, name, attempt.started);
        return wrongCode(ctx);
      }
      const setCookie = await completeSecondFactor(deps, ctx);
      await audit.record('mfa_verified', auditContext(ctx), { method: 'code' in body ? 'totp' : 'recovery_code' });
      respond.json(ctx.res, 200, { user: publicUser(live.user) }, { 'set-cookie': setCookie });
    },
  });

  /** 400 invalid_code; the fifth wrong code in a pending session ends it (401). */
  async function wrongCode(ctx: RequestContext): Promise<never> {
    const live = ctx.live!;
    // By the session's handle: the counters may be Redis (SPEC §8, nothing secret there), and the
    // id's hash is an unsalted SHA-256 of the cookie, the key the session store finds it by.
    const wrong = await deps.counters.add(`mfa-wrong:${live.session.handle}`, deps.clock.now(), 24 * 3_600_000);
    await audit.record('mfa_failed', auditContext(ctx), { attempt: wrong });
    if (wrong >= maxWrongCodes) {
      await sessions.revoke(live.session, auditContext(ctx, 'gatehouse'), 'too_many_wrong_codes');
      ctx.live = null;
      ctx.staleCookie = true;
      throw new GatewayError('unauthenticated');
    }
    throw new GatewayError('invalid_code');
  }

  const disable = authEndpoint({
    id: 'auth.mfa.totp.delete',
    methods: new Set(['DELETE']),
    access: 'session',
    allows: unrestricted,
    async handle(ctx) {
      const live = ctx.live!;
      const body = await readJson(ctx.req, passwordBody, deps.maxBodySize);
      // Removing a factor needs the password again, guarded like a login: a stolen session alone
      // must not be able to strip the account's second factor.
      const attempt = await throttle.guard(live.user.name, ctx.ip, () => deps.accounts.authenticate(live.user.name, body.password));
      if (attempt.outcome === 'throttled') throw tooManyAttempts(attempt.retryAfterSeconds);
      if (attempt.outcome === 'failed') {
        await recordThrottleStarts(deps, ctx, live.user.name, attempt.started);
        throw new GatewayError('invalid_credentials');
      }
      await totp.disable(live.user.name, auditContext(ctx));
      respond.empty(ctx.res, 204);
    },
  });

  return new Map([
    ['/auth/mfa', status],
    ['/auth/mfa/totp/setup', setup],
    ['/auth/mfa/totp/confirm', confirm],
    ['/auth/mfa/verify', verify],
    ['/auth/mfa/totp', disable],
  ]);
}
