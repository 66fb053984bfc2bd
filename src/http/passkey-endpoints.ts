import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import type { PasskeyRecord } from '../mfa/mfa-store.js';
import type { RequestContext } from './context.js';
import { unrestricted, type Endpoint } from './endpoint.js';
import { auditContext, authEndpoint, completeSecondFactor, iso, requireLocalAccount, publicUser, startSession, type AuthDeps } from './auth-support.js';
import { readJson } from './read-json.js';

/**
 * `response` is what the browser's `credential.toJSON()` returns; @simplewebauthn/server checks its
 * inner shape. Here only its outline is checked, so a malformed one is a 400/401, never a 500.
 */
const credentialJson = z.object({ id: z.string().max(1024), rawId: z.string().max(1024), type: z.literal('public-key'), response: z.record(z.string(), z.unknown()) }).passthrough();
const registerBody = z.object({ name: z.string().max(64).optional(), response: credentialJson });
const loginOptionsBody = z.object({ username: z.string().max(256).optional() });
const loginBody = z.object({ response: credentialJson });

const describe = (p: PasskeyRecord) => ({ id: p.id, name: p.name, createdAt: iso(p.createdAt), lastUsedAt: iso(p.lastUsedAt) });

/** Passkeys (WebAuthn) of SPEC §4.5: registration, passwordless login, list and removal. */
export function passkeyEndpoints(deps: AuthDeps): { exact: Map<string, Endpoint>; byId: Endpoint } {
  const { passkeys, respond } = deps;
  const available = (): void => {
    // With an IP address as the public origin there is no relying-party id (SPEC §4.5).
    if (!passkeys.enabled) throw new GatewayError('not_found', { message: 'Passkeys are not available on this gateway.' });
  };

  const registerOptions = authEndpoint({
    id: 'auth.passkeys.register.options',
    methods: new Set(['POST']),
    access: 'session',
    allows: { ...unrestricted, mfaEnrolment: true },
    mfa: 'if-enrolled',
    async handle(ctx) {
      available();
      requireLocalAccount(ctx.live!.user);
      const options = await passkeys.registrationOptions(ctx.live!.user);
      if (options === 'too_many_passkeys') throw new GatewayError('too_many_passkeys');
      respond.json(ctx.res, 200, options);
    },
  });

  const registerVerify = authEndpoint({
    id: 'auth.passkeys.register.verify',
    methods: new Set(['POST']),
    access: 'session',
    allows: { ...unrestricted, mfaEnrolment: true },
    mfa: 'if-enrolled',
    async handle(ctx) {
      available();
      const body = await readJson(ctx.req, registerBody, deps.maxBodySize).catch(asInvalidPasskey);
      const passkey = await passkeys.verifyRegistration(ctx.live!.user, body.response as never, body.name);
      if (!passkey) throw new GatewayError('invalid_passkey');
      if (passkey === 'too_many_passkeys') throw new GatewayError('too_many_passkeys');
      // Registering with user verification proves the new authenticator: an enrolment is complete.
      const headers = ctx.live!.session.mfaPending ? { 'set-cookie': await completeSecondFactor(deps, ctx) } : undefined;
      respond.json(ctx.res, 200, { passkey: describe(passkey) }, headers);
    },
  });

  const loginOptions = authEndpoint({
    id: 'auth.passkeys.login.options',
    methods: new Set(['POST']),
    access: 'public',
    allows: unrestricted,
    touches: false,
    async handle(ctx) {
      available();
      const body = await readJson(ctx.req, loginOptionsBody, deps.maxBodySize);
      respond.json(ctx.res, 200, await passkeys.authenticationOptions(body.username));
    },
  });

  const loginVerify = authEndpoint({
    id: 'auth.passkeys.login.verify',
    methods: new Set(['POST']),
    // `optional`: a session presented here is ended, never promoted (as at password login).
    access: 'optional',
    allows: { passwordReset: true, mfaPending: true, mfaEnrolment: true },
    touches: false,
    async handle(ctx) {
      available();
      const body = await readJson(ctx.req, loginBody, deps.maxBodySize).catch(() => {
        throw new GatewayError('invalid_credentials');
      });
      const verified = await passkeys.verifyAuthentication(body.response as never);
      const user = verified ? await deps.accounts.get(verified.userName) : null;
      if (!user || user.locked) {
        await deps.audit.record('login_failed', auditContext(ctx, null), { method: 'passkey' });
        throw new GatewayError('invalid_credentials');
      }
      // A passkey with user verification is both factors (SPEC §4.5).
      const setCookie = await startSession(deps, ctx, user, { passwordResetRequired: user.passwordResetRequired, mfaCompleted: true });
      respond.json(ctx.res, 200, { user: publicUser(user), mfaRequired: false, passwordResetRequired: user.passwordResetRequired }, { 'set-cookie': setCookie });
    },
  });

  const list = authEndpoint({
    id: 'auth.passkeys.list',
    methods: new Set(['GET', 'HEAD']),
    access: 'session',
    allows: unrestricted,
    async handle(ctx) {
      respond.json(ctx.res, 200, { passkeys: (await passkeys.list(ctx.live!.user.name)).map(describe) });
    },
  });

  const remove = authEndpoint({
    id: 'auth.passkeys.remove',
    methods: new Set(['DELETE']),
    access: 'session',
    allows: unrestricted,
    async handle(ctx) {
      const id = lastSegment(ctx);
      if (!(await passkeys.remove(ctx.live!.user.name, id, auditContext(ctx)))) throw new GatewayError('not_found');
      respond.empty(ctx.res, 204);
    },
  });

  return {
    exact: new Map([
      ['/auth/passkeys/register/options', registerOptions],
      ['/auth/passkeys/register/verify', registerVerify],
      ['/auth/passkeys/login/options', loginOptions],
      ['/auth/passkeys/login/verify', loginVerify],
      ['/auth/passkeys', list],
    ]),
    byId: remove,
  };
}

function asInvalidPasskey(error: unknown): never {
  if (error instanceof GatewayError && error.code === 'bad_request') throw new GatewayError('invalid_passkey');
  throw error;
}

/** The `{id}` of `/auth/<collection>/{id}`, percent-decoded (ids are base64url, so this is exact). */
export function lastSegment(ctx: RequestContext): string {
  try {
    return decodeURIComponent(ctx.path.slice(ctx.path.lastIndexOf('/') + 1));
  } catch {
    throw new GatewayError('not_found');
  }
}
