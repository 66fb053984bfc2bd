import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors as providerErrors } from 'oidc-provider';
import { request as undiciRequest } from 'undici';

/** A user of the test provider: `sub` is the account id, the rest are its claims. */
export interface ProviderAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  preferred_username?: string;
  groups?: string[];
  /** RFC 8176 methods recorded at this account's logins (the ID token's `amr`). */
  amr?: string[];
}

export interface ProviderClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Back-Channel Logout 1.0: where the provider posts logout tokens (needs the `backchannelLogout` option). */
  backchannelLogoutUri?: string;
}

export interface TestProviderOptions {
  clients: ProviderClient[];
  accounts: ProviderAccount[];
  /** Seconds; short by default so expiry tests need no long waits. */
  ttl?: { accessToken?: number; idToken?: number; refreshToken?: number; authorizationCode?: number };
  /** Turns on Back-Channel Logout 1.0 (the provider posts logout tokens to the clients' backchannelLogoutUri). */
  backchannelLogout?: boolean;
  /** false: no end_session_endpoint (RP-Initiated Logout off); on by default, as in oidc-provider. */
  rpInitiatedLogout?: boolean;
  /**
   * Seconds: every token response that carries a refresh token also says `refresh_expires_in`, as
   * Keycloak's do (the provider itself keeps honouring `ttl.refreshToken`).
   */
  refreshExpiresIn?: number;
  /**
   * RFC 8693 token exchange at the token endpoint (oidc-provider has no such grant; this registers
   * one): `audiences` maps each audience a client may ask for to the scopes it may get there.
   * `ttl`: seconds an exchanged token lives (default 600, longer than the user's access token, so
   * a test can tell an exchange made again after a refresh from one made again at expiry).
   */
  tokenExchange?: { audiences: Record<string, string[]>; ttl?: number };
  /**
   * The issuer, when the provider is reached through something in front of it (a reverse proxy,
   * test/helpers/provider-middlebox.ts) that forwards the Host header: the provider still listens
   * on its own free port (`port`). By default, http://127.0.0.1:PORT.
   */
  issuer?: string;
  /**
   * Awaited once a refresh_token grant has been processed (the new refresh token exists at the
   * provider, the presented one is consumed) and before its answer is sent: a test holds the answer
   * with it, and reads the tokens issued in `answer`.
   */
  holdRefreshAnswer?: (answer: { refresh_token?: string; access_token?: string }) => Promise<void>;
  /**
   * 'token': RFC 7009 revocation revokes the presented token only, as the RFC permits and some
   * providers do; by default (`grant`) oidc-provider revokes every token of the token's grant, and
   * the grant itself.
   */
  revocation?: 'grant' | 'token';
}

/** One exchange the provider granted: whose token it was, and for which audience and scope. */
export interface GrantedExchange {
  subject: string;
  clientId: string;
  audience: string;
  scope: string;
}

/** What the provider's own store says about an access token it issued (an in-process introspection). */
export interface IssuedAccessToken {
  sub: string;
  clientId: string;
  /** The audience an exchanged token was issued for; undefined for a login's own access token. */
  aud: string | undefined;
  scope: string | undefined;
  exchanged: boolean;
}

export interface TestProvider {
  /** The issuer: http://127.0.0.1:PORT, or `options.issuer` (a gateway config needs allowInsecureHttp for it). */
  issuer: string;
  /** The port the provider itself listens on. */
  port: number;
  /** Successful token endpoint grants, by grant type (`refresh_token` counts refreshes). */
  tokenRequests: string[];
  /** With `tokenExchange`: every exchange granted, in order. */
  exchanges: GrantedExchange[];
  /** The provider's record of an unexpired access token it issued, or null (unknown, expired, revoked). */
  inspect(accessToken: string): Promise<IssuedAccessToken | null>;
  /** The provider's one signing key (RS256, published in its JWKS): tests sign tokens the gateway must judge by their claims alone. */
  signingKey: { kid: string; alg: 'RS256'; privateKey: CryptoKey };
  /** Stops answering (connections refused) until `resume`, keeping its grants and tokens. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real OpenID provider (panva's oidc-provider) on 127.0.0.1 and a free port, with its own clients,
 * accounts and token lifetimes. Its interaction pages are this fixture's own: POST /interaction/UID
 * with `login=<sub>` logs that account in and grants the requested scopes in one step (or
 * `deny=1` answers access_denied), so a test completes the login over plain HTTP (`completeLogin`).
 */
export async function startProvider(options: TestProviderOptions): Promise<TestProvider> {
  const accounts = new Map(options.accounts.map((a) => [a.sub, a]));
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = options.issuer ?? `http://127.0.0.1:${port}`;
  const ttl = options.ttl ?? {};
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `test-key-${port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' }] },
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code', 'refresh_token', ...(options.tokenExchange ? [tokenExchangeGrant] : [])],
      response_types: ['code'],
      ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    })),
    async findAccount(_ctx: unknown, id: string) {
      const account = accounts.get(id);
      if (!account) return undefined;
      const { amr: _amr, ...claims } = account;
      return { accountId: id, claims: async () => claims };
    },
    claims: {
      openid: ['sub', 'amr', 'acr', 'sid', 'auth_time'],
      acr: null,
      amr: null,
      sid: null,
      auth_time: null,
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      backchannelLogout: { enabled: options.backchannelLogout ?? false },
      rpInitiatedLogout: { enabled: options.rpInitiatedLogout ?? true },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: ttl.accessToken ?? 60,
      IdToken: ttl.idToken ?? 60,
      RefreshToken: ttl.refreshToken ?? 3600,
      AuthorizationCode: ttl.authorizationCode ?? 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    cookies: { keys: ['oidc-test-provider-cookie-key-0123456789'] },
    // The provider's own requests (back-channel logout posts) go to a gateway on 127.0.0.1, which its
    // SSRF guard (a dispatcher that refuses special-use addresses) would stop: the fixture's relying
    // parties are all on loopback, so its requests use the default dispatcher.
    fetch: (url: string | URL, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _guard, ...rest } = init;
      return fetch(url, rest);
    },
    // Every login gets a refresh token (without asking for offline_access), and every refresh
    // rotates it: the old one is consumed, so a second refresh with it is refused (invalid_grant),
    // as at providers that follow RFC 9700 §4.14.2.
    issueRefreshToken: async () => true,
    rotateRefreshToken: () => true,
    ...(options.revocation === 'token' ? { revokeGrantPolicy: (ctx: { oidc: { route: string } }) => ctx.oidc.route !== 'revocation' } : {}),
  });
  if (options.revocation === 'token') revokeOnlyThePresentedToken(provider);
  const holdRefreshAnswer = options.holdRefreshAnswer;
  if (holdRefreshAnswer) {
    provider.use(async (ctx: { path: string; body: unknown; oidc?: { params?: { grant_type?: unknown } } }, next: () => Promise<void>) => {
      await next();
      if (ctx.path === '/token' && ctx.oidc?.params?.grant_type === 'refresh_token' && typeof ctx.body === 'object' && ctx.body !== null) await holdRefreshAnswer(ctx.body as { refresh_token?: string });
    });
  }
  if (options.refreshExpiresIn !== undefined) {
    const seconds = options.refreshExpiresIn;
    provider.use(async (ctx: { path: string; body: unknown }, next: () => Promise<void>) => {
      await next();
      if (ctx.path === '/token' && typeof ctx.body === 'object' && ctx.body !== null && 'refresh_token' in ctx.body) ctx.body = { ...ctx.body, refresh_expires_in: seconds };
    });
  }
  const tokenRequests: string[] = [];
  provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    tokenRequests.push(ctx.oidc.params?.grant_type ?? 'unknown');
  });
  const exchanges: GrantedExchange[] = [];
  if (options.tokenExchange) registerTokenExchange(provider, options.tokenExchange, exchanges);
  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/interaction/') && req.method === 'POST') {
      void interact(provider, accounts, req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
      return;
    }
    if (req.url?.startsWith('/interaction/')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<form method="post"><input name="login"><button>Sign in</button></form>');
      return;
    }
    handle(req, res);
  });
  return {
    issuer,
    port,
    tokenRequests,
    exchanges,
    async inspect(accessToken: string) {
      const token = await provider.AccessToken.find(accessToken);
      if (!token || token.isExpired) return null;
      return { sub: token.accountId, clientId: token.clientId, aud: token.aud, scope: token.scope, exchanged: token.gty === tokenExchangeGrant };
    },
    signingKey: { kid, alg: 'RS256', privateKey },
    pause: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
    resume: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * oidc-provider's revocation endpoint destroys the presented token and then every token of its grant
 * (helpers/revoke.js, whatever revokeGrantPolicy says): within a revocation request, the models'
 * revokeByGrantId does nothing, so only the presented token dies.
 */
function revokeOnlyThePresentedToken(provider: Provider): void {
  const revoking = new AsyncLocalStorage<true>();
  provider.use((ctx: { path: string }, next: () => Promise<void>) => (ctx.path === '/token/revocation' ? revoking.run(true, next) : next()));
  const models = provider as unknown as Record<string, { revokeByGrantId(grantId: string): Promise<void> } | undefined>;
  for (const name of ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']) {
    const model = models[name];
    if (!model) continue;
    const all = model.revokeByGrantId.bind(model);
    model.revokeByGrantId = async (grantId: string) => (revoking.getStore() ? undefined : all(grantId));
  }
}

const tokenExchangeGrant = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * RFC 8693 §2 at this provider: a client trades an access token this provider issued to it (still
 * valid, its grant not revoked) for a new access token for one allowed `audience` and a subset of
 * that audience's scopes, for the same user. Refusals are the RFC's: invalid_request for a missing
 * or unsupported token type, invalid_grant for a subject token it does not accept, invalid_target
 * for an audience it does not serve (§2.2.2), invalid_scope for a scope not allowed there.
 */
function registerTokenExchange(provider: Provider, settings: { audiences: Record<string, string[]>; ttl?: number }, exchanges: GrantedExchange[]): void {
  const params = ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope', 'actor_token', 'actor_token_type'];
  provider.registerGrantType(tokenExchangeGrant, async (ctx: ExchangeContext) => {
    const { params: p, client } = ctx.oidc;
    if (!p.subject_token) throw new providerErrors.InvalidRequest('missing subject_token');
    if (p.subject_token_type !== accessTokenType) throw new providerErrors.InvalidRequest('unsupported subject_token_type');
    if (p.requested_token_type !== undefined && p.requested_token_type !== accessTokenType) throw new providerErrors.InvalidRequest('unsupported requested_token_type');
    if (p.actor_token !== undefined) throw new providerErrors.InvalidRequest('delegation (actor_token) is not supported');
    const subject = await provider.AccessToken.find(p.subject_token);
    if (!subject || subject.isExpired) throw new providerErrors.InvalidGrant('subject token is invalid or expired');
    if (subject.clientId !== client.clientId) throw new providerErrors.InvalidGrant('subject token was issued to another client');
    if (subject.gty === tokenExchangeGrant) throw new providerErrors.InvalidGrant('an exchanged token cannot be exchanged again');
    if (!(await provider.Grant.find(subject.grantId))) throw new providerErrors.InvalidGrant('the subject token\'s grant is revoked');
    const audience = p.audience;
    const allowed = audience === undefined ? undefined : Object.hasOwn(settings.audiences, audience) ? settings.audiences[audience] : undefined;
    if (audience === undefined || allowed === undefined) throw new providerErrors.InvalidTarget('audience not allowed');
    const requested = (p.scope ?? '').split(' ').filter((s) => s !== '');
    const refused = requested.filter((s) => !allowed.includes(s));
    if (refused.length > 0) throw new providerErrors.InvalidScope('scope not allowed for this audience', refused.join(' '));
    const token = new provider.AccessToken({
      accountId: subject.accountId,
      client,
      grantId: subject.grantId,
      gty: tokenExchangeGrant,
      scope: requested.join(' ') || undefined,
      ...(subject.sessionUid ? { sessionUid: subject.sessionUid, expiresWithSession: subject.expiresWithSession } : {}),
    });
    token.setAudience(audience);
    token.expiresIn = settings.ttl ?? 600;
    const value = await token.save();
    exchanges.push({ subject: subject.accountId, clientId: client.clientId, audience, scope: requested.join(' ') });
    ctx.body = {
      access_token: value,
      issued_token_type: accessTokenType,
      token_type: 'Bearer',
      expires_in: token.expiration,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  }, params);
}

interface ExchangeContext {
  oidc: { params: Record<string, string | undefined>; client: { clientId: string } };
  body: unknown;
}

async function interact(provider: Provider, accounts: Map<string, ProviderAccount>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  if (form.get('deny')) {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user said no' }, { mergeWithLastSubmission: false });
    return;
  }
  const account = accounts.get(form.get('login') ?? '');
  if (!account) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('unknown account');
    return;
  }
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: account.sub, clientId: details.params.client_id! });
  grant.addOIDCScope(details.params.scope ?? 'openid');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: account.sub, ...(account.amr ? { amr: account.amr } : {}) },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

/** A cookie jar for one browser at the provider (names only: the fixture's paths never collide). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  take(setCookie: string | string[] | undefined): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (/max-age=0|expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
}

/**
 * What a browser does at the provider between the gateway's 303 and the provider's redirect back:
 * follows the authorization URL to the interaction page, submits `login` (or denies), and follows
 * the provider's redirects until one leaves the provider. Returns that last Location (the gateway's
 * callback URL with code, state and iss, on the gateway's public origin).
 */
export async function completeLogin(authorizationUrl: string, issuer: string, how: { login: string } | { deny: true }, jar = new CookieJar()): Promise<string> {
  let url = authorizationUrl;
  let posted = false;
  for (let hop = 0; hop < 10; hop += 1) {
    if (!url.startsWith(issuer)) return url;
    const interaction = /\/interaction\/[^/?]+$/.test(new URL(url).pathname);
    const body = interaction && !posted ? new URLSearchParams('login' in how ? { login: how.login } : { deny: '1' }).toString() : undefined;
    const res = await undiciRequest(url, {
      method: body ? 'POST' : 'GET',
      headers: { cookie: jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body ? { body } : {}),
    });
    if (body) posted = true;
    jar.take(res.headers['set-cookie']);
    const text = await res.body.text();
    const location = res.headers.location;
    if (typeof location !== 'string') throw new Error(`the provider answered ${res.statusCode} without a redirect at ${new URL(url).pathname}: ${text.slice(0, 200)}`);
    url = new URL(location, url).toString();
  }
  throw new Error('too many redirects at the provider');
}

/**
 * The user ends their session at the provider, as a browser with the provider's cookies (`jar`,
 * from their login) would: its end-session page, then its confirmation form with logout=yes. With
 * back-channel logout on, the provider posts the logout tokens before it answers. Returns the
 * status of the confirmation's answer.
 */
export async function endSessionAtProvider(issuer: string, jar: CookieJar): Promise<number> {
  const page = await undiciRequest(`${issuer}/session/end`, { headers: { cookie: jar.header() } });
  jar.take(page.headers['set-cookie']);
  const html = await page.body.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!xsrf) throw new Error(`no logout form at the provider (${page.statusCode}): ${html.slice(0, 200)}`);
  const confirm = await undiciRequest(`${issuer}/session/end/confirm`, {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
  });
  jar.take(confirm.headers['set-cookie']);
  await confirm.body.text();
  return confirm.statusCode;
}
