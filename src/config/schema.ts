import { isIP } from 'node:net';
import { z } from 'zod';
import { canonicalHostEntry, isAllowedHostEntry } from '../security/host-policy.js';
import { parseDuration, parseSize } from './units.js';

/**
 * The configuration file (SPEC §3) as ONE schema: the runtime check and the TypeScript type come
 * from here. Every object is strict, so an unknown key is an error reported with its path.
 */

const duration = z.string({ error: 'expected a duration like "30m"' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration like "30m"' });
    return z.NEVER;
  }
  return ms;
});

const size = z.string({ error: 'expected a size like "1mb"' }).transform((text, ctx) => {
  const bytes = parseSize(text);
  if (bytes === null || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a size like "1mb"' });
    return z.NEVER;
  }
  return bytes;
});

const cidr = z.string({ error: 'expected a CIDR like "10.0.0.0/8" or an address' }).refine((text) => {
  const [address, prefix, ...rest] = text.split('/');
  if (rest.length > 0 || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}, 'expected a CIDR like "10.0.0.0/8" or an address');

const origin = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text.replace(/\/$/, '');
  } catch {
    return false;
  }
}, 'expected an origin like "https://app.example.com" (scheme, host and optional port, no path)')
  .transform((text) => new URL(text).origin);

/** `server.allowedHosts`: `name` (any port) or `name:port`, kept in canonical form (lower case). */
const allowedHost = z.string({ error: 'expected a host like "app.example.com" or "app.example.com:8443"' })
  .refine(isAllowedHostEntry, 'expected a host like "app.example.com" or "app.example.com:8443" (a name or IP address and an optional port; no scheme, path or wildcard)')
  .transform(canonicalHostEntry);

const httpUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}, 'expected an http(s) URL like "http://127.0.0.1:9000" without credentials, query or fragment');

/** Names of upstreams, routes, rules, secrets and roles: shared with the services that create them. */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const name = z.string().regex(namePattern, 'expected a name of letters, digits, ".", "_" or "-"');
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');
const httpMethod = z.string().transform((m) => m.toUpperCase()).pipe(
  z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], { error: 'expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' }),
);
const routePath = z.string().regex(/^\/[^?#\s]*$/, 'expected a path glob starting with "/" like "/api/weather/**"')
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'a path glob may not contain "." or ".." segments')
  .refine((p) => !/\*\*./.test(p), '"**" may only end a path glob');

/** A key source: `file:PATH` (relative to the config file) or `env:VARNAME`. */
const keySource = z.string().regex(/^(file:.+|env:[A-Za-z_][A-Za-z0-9_]*)$/, 'expected "file:PATH" or "env:VARNAME"');

/**
 * RFC 8693 token exchange for a `user-token` upstream (SPEC §9): the session's access token is
 * traded at the provider for one issued for `audience` (§2.1, the upstream's logical name, often
 * its URL) with `scope` (RFC 6749 §3.3 scope tokens, space-separated). Printable ASCII without
 * spaces for the audience: it is a form parameter and part of a cache key, and no provider
 * issues audiences with spaces or control characters.
 */
const tokenExchange = z.strictObject({
  audience: z.string({ error: 'expected an audience like "https://orders.api"' })
    .regex(/^[\x21-\x7e]{1,1024}$/, 'expected an audience like "https://orders.api" (1 to 1024 printable characters, no spaces)'),
  scope: z.string({ error: 'expected scope tokens like "orders.read orders.write"' })
    .regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/, 'expected scope tokens separated by single spaces, like "orders.read orders.write" (RFC 6749 §3.3)')
    .optional(),
});

const credential = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('bearer'), secret: name }),
  z.strictObject({ type: z.literal('header'), name: headerName, secret: name }),
  z.strictObject({ type: z.literal('basic'), user: name, password: name }),
  z.strictObject({ type: z.literal('query'), name: z.string().regex(/^[A-Za-z0-9._~-]+$/, 'expected a query parameter name'), secret: name }),
  // SPEC §9: the session's own access token from provider `provider` (an oidc.providers name),
  // or with `exchange` the token the provider trades it for (RFC 8693).
  z.strictObject({ type: z.literal('user-token'), provider: name, exchange: tokenExchange.optional() }),
], { error: 'expected type bearer, header, basic, query or user-token' });

const upstream = z.strictObject({
  name,
  url: httpUrl,
  credential: credential.optional(),
  timeout: duration.default(30_000),
  assertion: z.boolean().default(false),
  tls: z.strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    /**
     * The upstream's certificate is always verified (chain to `ca` or the system CAs, and the URL's
     * host name). This turns that off, for a lab only: anyone on the path could then pose as the
     * upstream and receive its secret. Logged as a warning at every start (STYLE: unsafe behaviour
     * only through a loudly named option).
     */
    dangerouslyDisableCertificateVerification: z.boolean().default(false),
  }).optional(),
});

const route = z.strictObject({
  path: routePath,
  methods: z.array(httpMethod).min(1, 'expected at least one method').default(['GET']),
  upstream: name,
  stripPrefix: z.string().regex(/^\/[^?#\s*]*$/, 'expected a literal path prefix like "/api/weather"').optional(),
  roles: z.array(name).optional(),
  public: z.boolean().default(false),
  csrf: z.boolean().default(true),
  mfa: z.boolean().default(false),
  /** SPEC §10: WebSocket upgrades on this (GET-only) route are relayed. */
  websocket: z.boolean().default(false),
  /** SPEC §10: the largest WebSocket message either way (default 1mb, realtime/websocket-relay.ts). */
  maxMessageSize: size.optional(),
});

const statusMatch = z.union([
  z.number().int().min(100).max(599),
  z.string().regex(/^[1-5](xx|\d\d)$/, 'expected a status like 404 or "4xx"'),
]);

const limitMatch = z.union([
  routePath,
  z.strictObject({
    path: routePath.default('/api/**'),
    methods: z.array(httpMethod).optional(),
    status: z.union([statusMatch, z.array(statusMatch).min(1)]).optional(),
  }),
]);

const limit = z.strictObject({
  name,
  match: limitMatch.default('/api/**'),
  by: z.enum(['ip', 'session', 'user'], { error: 'expected ip, session or user' }),
  max: z.number().int().min(1, 'expected a whole number of at least 1'),
  per: duration,
  action: z.enum(['reject', 'block', 'revoke', 'respond'], { error: 'expected reject, block, revoke or respond' }),
  for: duration.optional(),
  respond: z.strictObject({
    status: z.number().int().min(200).max(599),
    body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).default(''),
    headers: z.record(headerName, z.string()).default({}),
  }).optional(),
});

/**
 * A connection URL source: a literal URL with one of `schemes`, or `env:VARNAME` / `file:PATH` (the
 * file relative to the config file) holding one, resolved when the store is opened
 * (config/connection-url.ts). A literal URL may hold a password, so no message ever repeats it.
 */
function connectionSource(schemes: readonly string[], sources: readonly ('env' | 'file')[], message: string) {
  return z.string({ error: message }).refine((text) => {
    if (sources.includes('env') && /^env:[A-Za-z_][A-Za-z0-9_]*$/.test(text)) return true;
    if (sources.includes('file') && /^file:.+$/.test(text)) return true;
    return isUrlWithScheme(text, schemes);
  }, message);
}

/** Whether `text` parses as a URL whose scheme is one of `schemes` (with the colon, like URL.protocol). */
export function isUrlWithScheme(text: string, schemes: readonly string[]): boolean {
  try {
    return schemes.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

export const postgresSchemes = ['postgres:', 'postgresql:'] as const;
export const redisSchemes = ['redis:', 'rediss:'] as const;

const postgresSource = connectionSource(postgresSchemes, ['env', 'file'], 'expected a postgres:// or postgresql:// URL, "env:VARNAME" or "file:PATH"');
const redisSource = connectionSource(redisSchemes, ['env'], 'expected a redis:// or rediss:// URL, or "env:VARNAME"');

/** `store`: exactly one engine. SQLite for one machine; PostgreSQL (with `cache`) for several (SPEC §8). */
const store = z.strictObject({
  sqlite: z.string({ error: 'expected a file path' }).min(1, 'expected a file path').optional(),
  postgres: postgresSource.optional(),
  pool: z.number({ error: 'expected a whole number of at least 1' }).int('expected a whole number of at least 1').min(1, 'expected a whole number of at least 1').optional(),
  timeout: duration.optional(),
}).transform((value, ctx): { sqlite: string } | { postgres: string; pool: number; timeout: number } => {
  if (value.sqlite !== undefined && value.postgres !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'give either sqlite or postgres, not both' });
    return z.NEVER;
  }
  if (value.postgres !== undefined) return { postgres: value.postgres, pool: value.pool ?? 10, timeout: value.timeout ?? 2_000 };
  if (value.sqlite === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected sqlite: PATH or postgres: URL' });
    return z.NEVER;
  }
  for (const key of ['pool', 'timeout'] as const) {
    if (value[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'only allowed with store.postgres' });
  }
  return { sqlite: value.sqlite };
});

/** `cache`: Redis, for what the nodes of a PostgreSQL store count together and tell each other (SPEC §8). */
const cache = z.strictObject({
  redis: redisSource,
  prefix: z.string({ error: 'expected 1 to 64 visible ASCII characters like "gh:"' })
    .regex(/^[\x21-\x7e]{1,64}$/, 'expected 1 to 64 visible ASCII characters like "gh:"').default('gh:'),
  timeout: duration.default(100),
});

/**
 * `admin` (SPEC §11): metrics and the admin console on their own listener, never the public port;
 * absent, there is none. Defaults as SPEC §11 shows them; port 0 picks a free port (tests).
 */
const admin = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number({ error: 'expected a port number from 0 to 65535' }).int('expected a port number from 0 to 65535')
    .min(0, 'expected a port number from 0 to 65535').max(65535, 'expected a port number from 0 to 65535').default(9090),
  publicOrigin: origin.default('http://127.0.0.1:9090'),
  allow: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
});

/** A claim value a role rule compares with: as the provider sends it (string, number or boolean). */
const claimValue = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });

/**
 * `oidc.providers[].roles[]` (SPEC §9): `role` when the claim `claim` (ID token or userinfo)
 * includes the value (a list claim, or a string equal to it) or equals it. Exactly one of the two.
 */
const roleRule = z.strictObject({
  role: name,
  claim: z.string().min(1).max(256),
  includes: claimValue.optional(),
  equals: claimValue.optional(),
}).superRefine((rule, ctx) => {
  if ((rule.includes === undefined) === (rule.equals === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of includes or equals' });
});

const issuerUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}, 'expected the issuer URL, like "https://idp.example.com/realms/main" (no credentials, query or fragment)');

/** `oidc.providers[]` (SPEC §9): one OpenID Connect provider users may log in at. */
const oidcProvider = z.strictObject({
  name,
  issuer: issuerUrl,
  clientId: z.string().min(1).max(512),
  /** The name of a stored secret (gatehouse secret set), never the secret itself. */
  clientSecret: name,
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected a scope token (RFC 6749 §3.3)')).min(1).default(['openid', 'profile', 'email'])
    .refine((scopes) => scopes.includes('openid'), 'must include "openid"'),
  roles: z.array(roleRule).default([]),
  requireRole: z.boolean().default(false),
  mfa: z.strictObject({ amr: z.array(z.string().min(1)).default([]) }).prefault({}),
  backchannelLogout: z.boolean().default(false),
  /**
   * An http:// issuer sends codes and tokens in clear: for a laboratory only, and logged as a
   * warning at every start (STYLE: unsafe behaviour only through a loudly named opt-in).
   */
  allowInsecureHttp: z.boolean().default(false),
}).superRefine((provider, ctx) => {
  if (provider.issuer.startsWith('http:') && !provider.allowInsecureHttp) {
    ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'an http:// issuer needs allowInsecureHttp: true (for local testing only)' });
  }
});

const oidc = z.strictObject({
  providers: z.array(oidcProvider).default([]),
});

export const configSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    publicOrigin: origin.default('http://localhost:8080'),
    allowedHosts: z.array(allowedHost, { error: 'expected a list of hosts like [app.example.com, "internal.example:8080"]' }).default([]),
    trustedProxies: z.array(cidr).default([]),
    tls: z.strictObject({ cert: z.string(), key: z.string() }).optional(),
    maxBodySize: size.default(1024 * 1024),
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)], { error: 'expected "auto" or a whole number of at least 1' }).default(1),
  }).prefault({}),
  store: store.default({ sqlite: './data/gatehouse.db' }),
  cache: cache.optional(),
  admin: admin.optional(),
  masterKey: z.union([keySource, z.array(keySource).min(1)]).default('file:./data/master.key')
    .transform((value) => (Array.isArray(value) ? value : [value])),
  session: z.strictObject({
    idleTimeout: duration.default(30 * 60_000),
    absoluteTimeout: duration.default(12 * 3_600_000),
    sameSite: z.enum(['strict', 'lax'], { error: 'expected strict or lax' }).default('strict'),
  }).prefault({}),
  upstreams: z.array(upstream).default([]),
  routes: z.array(route).default([]),
  static: z.string().min(1).optional(),
  limits: z.array(limit).default([]),
  mfa: z.strictObject({
    required: z.boolean().default(false),
    issuer: z.string().min(1).default('Gatehouse'),
  }).prefault({}),
  login: z.strictObject({
    maxFailures: z.number().int().min(1).default(5),
    backoff: duration.default(1000),
    maxBackoff: duration.default(15 * 60_000),
    perIp: z.strictObject({ max: z.number().int().min(1).default(20), per: duration.default(5 * 60_000) }).prefault({}),
  }).prefault({}),
  ipRules: z.strictObject({
    allow: z.array(cidr).default([]),
    deny: z.array(cidr).default([]),
  }).prefault({}),
  oidc: oidc.prefault({}),
});

export type GatewayConfig = z.output<typeof configSchema>;
export type UpstreamConfig = GatewayConfig['upstreams'][number];
export type RouteConfig = GatewayConfig['routes'][number];
export type LimitConfig = GatewayConfig['limits'][number];
export type StoreConfig = GatewayConfig['store'];
export type PostgresStoreConfig = Extract<StoreConfig, { postgres: string }>;
export type AdminConfig = NonNullable<GatewayConfig['admin']>;
export type CacheConfig = NonNullable<GatewayConfig['cache']>;
export type OidcProviderConfig = GatewayConfig['oidc']['providers'][number];
export type RoleRuleConfig = OidcProviderConfig['roles'][number];
export type CredentialConfig = NonNullable<UpstreamConfig['credential']>;
export type TokenExchangeConfig = NonNullable<Extract<CredentialConfig, { type: 'user-token' }>['exchange']>;
