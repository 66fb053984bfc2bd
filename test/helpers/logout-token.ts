import { randomUUID } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWTHeaderParameters } from 'jose';
import { afterAll, beforeAll } from 'vitest';
import { backchannelLogoutEvent } from '../../src/oidc/backchannel-logout.js';
import type { SessionTokens } from '../../src/oidc/token-refresher.js';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { request as undiciRequest } from 'undici';
import { call, type Reply } from './http.js';
import { CLIENT_ID, CLIENT_SECRET, oidcLogin, startOidcWorld, type OidcWorld } from './oidc-journey.js';
import type { TestProvider } from './oidc-provider.js';
import type { TestUpstream } from './upstream.js';

/** A session that logged in at the test provider, with what a logout token names it by. */
export interface ProviderSession {
  /** The session cookie's value. */
  cookie: string;
  handle: string;
  issuer: string;
  sid: string | null;
  sub: string;
}

/** Logs `login` in through the provider and reads the session's OIDC record from the gateway's store. */
export async function providerSession(world: OidcWorld, login = 'sub-user'): Promise<ProviderSession> {
  const before = new Set((await world.gw.gateway.services.sessions.list()).map((s) => s.handle));
  const { session } = await oidcLogin(world, login);
  const created = (await world.gw.gateway.services.sessions.list()).find((s) => !before.has(s.handle));
  const record = created ? await world.gw.gateway.services.store.oidc.getSession(created.handle) : null;
  if (!record) throw new Error('no OIDC record for the new session');
  return { cookie: session, handle: record.handle, issuer: record.issuer, sid: record.sid, sub: record.subject };
}

/**
 * Registers, in the calling describe, a world whose provider `corp` takes logout tokens, started
 * beforeAll and closed afterAll, and (unless `target: false`) a session logged in through it;
 * `config` (from the world's upstream) is merged over the gateway's. Read `.world` and `.target`
 * inside tests.
 */
export function useBackchannelWorld(options: { target?: boolean; config?: (upstream: TestUpstream) => Record<string, unknown> } = {}): { readonly world: OidcWorld; readonly target: ProviderSession } {
  let world: OidcWorld | undefined;
  let target: ProviderSession | undefined;
  beforeAll(async () => {
    world = await startOidcWorld({ corp: { backchannelLogout: true }, ...(options.config ? { config: options.config } : {}) });
    if (options.target !== false) target = await providerSession(world);
  });
  afterAll(async () => {
    await world?.close();
  });
  return {
    get world(): OidcWorld {
      if (!world) throw new Error('useBackchannelWorld: the world is read before beforeAll started it');
      return world;
    },
    get target(): ProviderSession {
      if (!target) throw new Error('useBackchannelWorld: no target session (read before beforeAll, or target: false)');
      return target;
    },
  };
}

/** The claims of a valid logout token for `target`, at the gateway's clock, with `overrides` over them (undefined removes one). */
export function logoutClaims(world: OidcWorld, target: ProviderSession, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: world.provider.issuer,
    aud: CLIENT_ID,
    iat: Math.floor(world.gw.clock.now() / 1000),
    exp: Math.floor(world.gw.clock.now() / 1000) + 120,
    jti: randomUUID(),
    sub: target.sub,
    ...(target.sid ? { sid: target.sid } : {}),
    events: { [backchannelLogoutEvent]: {} },
    ...overrides,
  };
  for (const [key, value] of Object.entries(claims)) if (value === undefined) delete claims[key];
  return claims;
}

/** Signs claims as the provider does (its own key, RS256, typ logout+jwt), or with `key`/`header` of a test's choosing. */
export async function signLogoutToken(world: { provider: TestProvider }, claims: Record<string, unknown>, options: { key?: CryptoKey; header?: Partial<JWTHeaderParameters> } = {}): Promise<string> {
  const { kid, alg, privateKey } = world.provider.signingKey;
  return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'logout+jwt', ...options.header }).sign(options.key ?? privateKey);
}

/** POST /auth/oidc/backchannel-logout/P as the provider would: a form, no cookie, no X-CSRF, no Origin. */
export async function postLogoutToken(world: OidcWorld, token: string | null, options: { provider?: string; body?: string; contentType?: string } = {}): Promise<Reply> {
  const body = options.body ?? (token === null ? '' : new URLSearchParams({ logout_token: token }).toString());
  return call(world.gw.url, `/auth/oidc/backchannel-logout/${options.provider ?? 'corp'}`, {
    method: 'POST',
    csrf: false,
    body,
    headers: { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded' },
  });
}

/** Whether the session still serves a request (GET /auth/session). */
export async function sessionServes(world: OidcWorld, cookie: string): Promise<boolean> {
  const reply = await call(world.gw.url, '/auth/session', { session: cookie });
  return reply.status === 200;
}

/** The tokens the gateway holds for a session, opened from its store (the test reads what no response ever shows). */
export async function heldTokens(world: OidcWorld, handle: string): Promise<SessionTokens> {
  const services = world.gw.gateway.services;
  const record = await services.store.oidc.getSession(handle);
  if (!record) throw new Error('no OIDC record');
  return JSON.parse(open(services.keyring, oidcTokensAad(handle), record.sealedTokens).toString('utf8')) as SessionTokens;
}

/** Uses a refresh token at the provider's token endpoint, as the gateway's client: the status and OAuth error. */
export async function refreshAtProvider(world: OidcWorld, refreshToken: string): Promise<{ status: number; error: string | null }> {
  const res = await undiciRequest(`${world.provider.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
  });
  const body = (await res.body.json()) as { error?: string };
  return { status: res.statusCode, error: body.error ?? null };
}

/** A logout token's claims for (`sid`, `sub`) at `issuer`, at the real clock (for `serve` processes, which run on it). */
export function realTimeLogoutClaims(issuer: string, target: { sid: string | null; sub: string }): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer, aud: CLIENT_ID, iat: now, exp: now + 120, jti: randomUUID(), sub: target.sub, ...(target.sid ? { sid: target.sid } : {}), events: { [backchannelLogoutEvent]: {} } };
}
