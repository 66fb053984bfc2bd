import { parse, serialize } from 'cookie';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import { GatewayError } from '../errors/gateway-error.js';
import { callbackPrefix, type OidcLogin } from '../oidc/oidc-login.js';
import type { OidcStore } from '../oidc/oidc-store.js';
import { LogoutTokenRefused, type BackchannelLogout } from '../oidc/backchannel-logout.js';
import type { ProviderClients } from '../oidc/provider-clients.js';
import { newToken, type RandomBytes } from '../security/random.js';
import { auditContext, authEndpoint, beginSession, type AuthDeps } from './auth-support.js';
import { anyState, type Endpoint } from './endpoint.js';
import { errorPageHeaders, navigationErrorPage, wantsPage } from './navigation-error-page.js';
import { readForm } from './read-form.js';

export interface OidcEndpointDeps {
  auth: AuthDeps;
  login: OidcLogin;
  clients: ProviderClients;
  store: OidcStore;
  backchannel: BackchannelLogout;
  /** A failed login is a refusal anyone can repeat (any client can begin logins): audited once per address, code and minute. */
  refusals: RefusalAudit;
  random: RandomBytes;
  /** Over HTTPS the login cookie is Secure, with the `__Secure-` prefix (RFC 6265bis §4.1.3.1). */
  secure: boolean;
}

const loginCookiePath = '/auth/oidc/';
export const backchannelPrefix = '/auth/oidc/backchannel-logout';
const tokenShape = /^[A-Za-z0-9_-]{43}$/;

/**
 * SPEC §9's login endpoints. The login cookie binds a login to the browser that began it (a login
 * CSRF, OWASP, cannot finish a login in the victim's browser with the attacker's code): HttpOnly,
 * only sent to /auth/oidc/, and SameSite=Lax because the provider's redirect back is a cross-site
 * top-level navigation that must carry it. It holds a random value; the store keeps its hash.
 */
export function oidcEndpoints(deps: OidcEndpointDeps): { exact: Map<string, Endpoint>; callback: [string, Endpoint]; backchannel: [string, Endpoint] } {
  const { respond } = deps.auth;
  const cookieName = deps.secure ? '__Secure-gatehouse-oidc' : 'gatehouse-oidc';

  const providers = authEndpoint({
    id: 'auth.providers',
    methods: new Set(['GET', 'HEAD']),
    access: 'public',
    allows: anyState,
    touches: false,
    async handle(ctx) {
      respond.json(ctx.res, 200, { providers: deps.clients.names.map((name) => ({ name })) });
    },
  });

  const login = authEndpoint({
    id: 'auth.oidc.login',
    methods: new Set(['GET']),
    access: 'public',
    allows: anyState,
    touches: false,
    async handle(ctx) {
      const params = new URLSearchParams(ctx.query);
      const provider = params.get('provider') ?? '';
      // A browser with logins in two tabs keeps one binding value for both.
      const token = browserToken(ctx.req.headers.cookie, cookieName) ?? newToken(deps.random);
      const begun = await deps.login.begin(provider, params.get('returnTo'), token);
      respond.empty(ctx.res, 303, {
        location: begun.location,
        'set-cookie': serialize(cookieName, token, { path: loginCookiePath, httpOnly: true, secure: deps.secure, sameSite: 'lax', maxAge: 600 }),
      });
    },
  });

  const callback = authEndpoint({
    id: 'auth.oidc.callback',
    methods: new Set(['GET']),
    // `optional`: a session the browser already has is ended by the new login, never promoted.
    access: 'optional',
    allows: anyState,
    touches: false,
    async handle(ctx) {
      const provider = ctx.path.slice(callbackPrefix.length + 1);
      let finished;
      try {
        finished = await deps.login.finish(provider, ctx.query, browserToken(ctx.req.headers.cookie, cookieName));
      } catch (error) {
        if (error instanceof GatewayError && error.code !== 'not_found') {
          await deps.refusals.record('oidc_login_failed', error.code, { ...auditContext(ctx, null), ip: ctx.ip }, { provider: provider.slice(0, 64), code: error.code });
        }
        if (error instanceof GatewayError && wantsPage(ctx.req.headers)) {
          const page = navigationErrorPage(error);
          ctx.res.writeHead(error.status, { ...respond.base, ...error.headers, ...errorPageHeaders, 'content-length': Buffer.byteLength(page) });
          ctx.res.end(page);
          return;
        }
        throw error;
      }
      // A provider login is complete: local MFA settings apply to local logins only (SPEC §9); the
      // provider's `amr` decides whether `mfa: true` routes see a second factor.
      const { setCookie, session } = await beginSession(deps.auth, ctx, finished.user, { mfaCompleted: finished.mfaCompleted }, { method: 'oidc', provider });
      await deps.store.putSession(finished.sessionRecord(session.handle, deps.auth.clock.now()));
      respond.empty(ctx.res, 303, { location: finished.returnTo, 'set-cookie': setCookie });
    },
  });

  /**
   * OpenID Connect Back-Channel Logout 1.0: the provider posts a logout token, server to server. No
   * cookie comes with it and none is looked up (`public`); no browser sends it, so the CSRF checks,
   * which defend a browser's cookie, do not apply: the signed token is the request's whole
   * authority. IP lists and rate rules apply as to any request (pipeline stages before this one).
   */
  const backchannel = authEndpoint({
    id: 'auth.oidc.backchannel-logout',
    methods: new Set(['POST']),
    access: 'public',
    allows: anyState,
    csrf: false,
    touches: false,
    async handle(ctx) {
      const name = ctx.path.slice(backchannelPrefix.length + 1);
      const provider = deps.clients.provider(name);
      // Only where the operator turned it on (SPEC §9 `backchannelLogout`): elsewhere nothing is here.
      if (!provider || !provider.backchannelLogout) throw new GatewayError('not_found');
      const context = { ...auditContext(ctx, null), ip: ctx.ip };
      try {
        const form = await readForm(ctx.req, deps.auth.maxBodySize);
        const tokens = form?.getAll('logout_token') ?? [];
        if (tokens.length !== 1) throw new LogoutTokenRefused('no_logout_token');
        const outcome = await deps.backchannel.logout(provider, tokens[0]!, context);
        await deps.auth.audit.record('oidc_backchannel_logout', context, { provider: provider.name, by: outcome.by, sessions: outcome.ended });
      } catch (error) {
        if (!(error instanceof LogoutTokenRefused)) throw error;
        await deps.refusals.record('oidc_backchannel_logout_refused', error.reason, context, { provider: provider.name, reason: error.reason });
        throw new GatewayError('invalid_logout_token');
      }
      // §2.8: 200 on success, with Cache-Control: no-store (every generated response has it).
      respond.empty(ctx.res, 200);
    },
  });

  return {
    exact: new Map([['/auth/providers', providers], ['/auth/oidc/login', login]]),
    callback: [callbackPrefix, callback],
    backchannel: [backchannelPrefix, backchannel],
  };
}

/** The login cookie's value when there is exactly one, well formed. */
function browserToken(header: string | undefined, name: string): string | null {
  if (!header) return null;
  const values = header.split(';').map((pair) => parse(pair)[name]).filter((v): v is string => v !== undefined);
  return values.length === 1 && tokenShape.test(values[0]!) ? values[0]! : null;
}
