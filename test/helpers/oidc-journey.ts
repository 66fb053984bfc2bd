import { defaultRoutes, defaultUpstream, startGateway, testServer, type TestGateway } from './gateway.js';
import { call, type Reply } from './http.js';
import { completeLogin, CookieJar, startProvider, type ProviderAccount, type TestProvider, type TestProviderOptions } from './oidc-provider.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const CLIENT_ID = 'gatehouse';
export const CLIENT_SECRET = 'oidc-client-secret-5d1f0b7e3a9c';
export const callbackUrl = (provider = 'corp'): string => `${testServer.publicOrigin}/auth/oidc/callback/${provider}`;

export const accounts: ProviderAccount[] = [
  { sub: 'sub-admin', email: 'ada@corp.example', email_verified: true, preferred_username: 'ada', groups: ['gatehouse-admins'], amr: ['pwd', 'otp'] },
  { sub: 'sub-user', email: 'alice@corp.example', email_verified: true, preferred_username: 'alice', groups: [], amr: ['pwd'] },
  { sub: 'sub-norole', email: 'nobody@corp.example', email_verified: false, preferred_username: 'nobody', groups: [] },
];

export interface OidcWorld {
  provider: TestProvider;
  upstream: TestUpstream;
  /**
   * With `orders: true`: the upstream `orders` (credential user-token, provider corp, and
   * `ordersExchange` as its `exchange` when given) behind GET/POST /orders/**.
   */
  orders: TestUpstream | null;
  gw: TestGateway;
  close(): Promise<void>;
}

/**
 * A real provider, a real upstream and a real gateway whose `oidc.providers` has `corp` pointing
 * at the provider (http issuer, so allowInsecureHttp), roles mapped from `groups` and
 * `email_verified`, `mfa.amr: [otp, hwk]`.
 */
export async function startOidcWorld(options: { provider?: Partial<TestProviderOptions>; corp?: Record<string, unknown>; config?: Record<string, unknown> | ((upstream: TestUpstream) => Record<string, unknown>); orders?: boolean; ordersExchange?: Record<string, unknown> } = {}): Promise<OidcWorld> {
  const provider = await startProvider({
    clients: [
      { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')] },
      // Another relying party at the same provider (its tokens are not for us).
      { clientId: 'other-app', clientSecret: 'other-app-secret-0c1d2e3f4a5b', redirectUris: [callbackUrl('corp')] },
    ],
    accounts,
    ...options.provider,
  });
  const upstream = await startUpstream();
  const orders = options.orders ? await startUpstream() : null;
  const ordersConfig = orders ? {
    upstreams: [defaultUpstream(upstream.url), { name: 'orders', url: orders.url, credential: { type: 'user-token', provider: 'corp', ...(options.ordersExchange ? { exchange: options.ordersExchange } : {}) }, timeout: '2s' }],
    routes: [{ path: '/orders/**', methods: ['GET', 'POST'], upstream: 'orders', stripPrefix: '/orders' }, ...defaultRoutes],
  } : {};
  const gw = await startGateway({
    upstreamUrl: upstream.url,
    secrets: { 'corp-oidc': CLIENT_SECRET },
    config: {
      oidc: {
        providers: [{
          name: 'corp',
          issuer: provider.issuer,
          clientId: CLIENT_ID,
          clientSecret: 'corp-oidc',
          scopes: ['openid', 'profile', 'email', 'groups'],
          roles: [{ role: 'admin', claim: 'groups', includes: 'gatehouse-admins' }, { role: 'user', claim: 'email_verified', equals: true }],
          mfa: { amr: ['otp', 'hwk'] },
          allowInsecureHttp: true,
          ...options.corp,
        }],
      },
      ...ordersConfig,
      ...(typeof options.config === 'function' ? options.config(upstream) : options.config),
    },
  }).catch(async (error: unknown) => {
    await orders?.close();
    await upstream.close();
    await provider.close();
    throw error;
  });
  return {
    provider,
    upstream,
    orders,
    gw,
    async close() {
      await gw.close();
      await orders?.close();
      await upstream.close();
      await provider.close();
    },
  };
}

/** The login cookie (`gatehouse-oidc=VALUE`) a reply set, as a Cookie header pair. */
export function loginCookieOf(reply: Reply): string {
  const line = reply.setCookie.find((c) => c.startsWith('gatehouse-oidc='));
  if (!line) throw new Error(`no login cookie in ${reply.status}: ${reply.text}`);
  return line.slice(0, line.indexOf(';'));
}

/** The gateway-side path (with query) of a URL on the public origin. */
export function gatewayPath(publicUrl: string): string {
  const url = new URL(publicUrl);
  return `${url.pathname}${url.search}`;
}

export interface Journey {
  /** GET /auth/oidc/login's reply (303 to the provider). */
  start: Reply;
  /** `gatehouse-oidc=VALUE` */
  loginCookie: string;
  /** The provider's authorization URL. */
  authorizationUrl: string;
  /** The provider's redirect back: the callback URL on the public origin (code, state, iss). */
  callback: string;
}

/** The browser's part up to the provider's redirect back, not yet followed. */
export async function beginJourney(world: OidcWorld, options: { login?: string; returnTo?: string; deny?: boolean; jar?: CookieJar; rewrite?: (authorizationUrl: URL) => void } = {}): Promise<Journey> {
  // The provider's tokens carry real times, and the gateway judges them by its manual clock: each
  // journey starts with that clock at the real time (a test moves it after this, never before).
  world.gw.clock.set(Date.now());
  const query = new URLSearchParams({ provider: 'corp', ...(options.returnTo !== undefined ? { returnTo: options.returnTo } : {}) });
  const start = await call(world.gw.url, `/auth/oidc/login?${query}`, { csrf: false });
  if (start.status !== 303) throw new Error(`login start answered ${start.status}: ${start.text}`);
  const authorization = new URL(String(start.headers.location));
  options.rewrite?.(authorization);
  const callback = await completeLogin(authorization.href, world.provider.issuer, options.deny ? { deny: true } : { login: options.login ?? 'sub-user' }, options.jar);
  return { start, loginCookie: loginCookieOf(start), authorizationUrl: authorization.href, callback };
}

/** Follows the provider's redirect back to the gateway, as the browser (`cookie` overrides its Cookie header). */
export async function finishJourney(world: OidcWorld, journey: Journey, cookie: string = journey.loginCookie): Promise<Reply> {
  return call(world.gw.url, gatewayPath(journey.callback), { csrf: false, headers: cookie === '' ? {} : { cookie } });
}

/** A whole login: the session cookie value. */
export async function oidcLogin(world: OidcWorld, login = 'sub-user', returnTo = '/app'): Promise<{ session: string; reply: Reply; journey: Journey }> {
  const journey = await beginJourney(world, { login, returnTo });
  const reply = await finishJourney(world, journey);
  if (reply.status !== 303 || !reply.cookie) throw new Error(`callback answered ${reply.status}: ${reply.text}`);
  return { session: reply.cookie, reply, journey };
}

/**
 * The configuration lines (YAML, one key each) of a `serve` whose `orders` upstream at `ordersUrl`
 * gets the user's token from the provider `corp` at `issuer`, under /orders/**. `exchange` (YAML):
 * the credential's token exchange; `admin`: an admin-only /admin/** route too, with `admin` mapped
 * from `groups`; `backchannelLogout`: `corp` takes logout tokens.
 */
export function userTokenYaml(issuer: string, ordersUrl: string, options: { exchange?: string; admin?: boolean; backchannelLogout?: boolean } = {}): string[] {
  const exchange = options.exchange ? `, exchange: ${options.exchange}` : '';
  const adminRoute = options.admin ? ', { path: /admin/**, methods: [GET], upstream: orders, roles: [admin] }' : '';
  const adminRole = options.admin ? '{ role: admin, claim: groups, includes: gatehouse-admins }, ' : '';
  const backchannel = options.backchannelLogout ? ', backchannelLogout: true' : '';
  return [
    `upstreams: [{ name: orders, url: "${ordersUrl}", credential: { type: user-token, provider: corp${exchange} } }]`,
    `routes: [{ path: /orders/**, methods: [GET], upstream: orders, stripPrefix: /orders }${adminRoute}]`,
    `oidc: { providers: [{ name: corp, issuer: "${issuer}", clientId: ${CLIENT_ID}, clientSecret: corp-oidc, scopes: [openid, profile, email, groups], roles: [${adminRole}{ role: user, claim: email_verified, equals: true }], allowInsecureHttp: true${backchannel} }] }`,
  ];
}
