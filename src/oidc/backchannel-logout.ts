import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { OidcProviderConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { AuditContext } from '../audit/audit-log.js';
import type { Clock } from '../security/clock.js';
import { sha256Hex } from '../security/hash.js';
import type { SessionService } from '../sessions/session-service.js';
import type { OidcStore } from './oidc-store.js';
import { providerTimeoutSeconds, type ProviderClients } from './provider-clients.js';

/** OpenID Connect Back-Channel Logout 1.0 §2.4: the member of `events` that makes a JWT a logout token. */
export const backchannelLogoutEvent = 'http://schemas.openid.net/event/backchannel-logout';

/** How far a logout token's `iat` may be in the future, and its `exp` in the past: the clocks' disagreement. */
export const logoutTokenSkewSeconds = 30;

/**
 * A logout token is accepted this long after its `iat`. Each `jti` is accepted once (SPEC §9), which
 * needs its record kept as long as the token could be accepted: a bound on the age keeps that table
 * small whether or not the provider sets `exp` (the specification makes it optional). Providers post
 * logout tokens the moment the session ends (oidc-provider gives them two minutes).
 */
export const logoutTokenMaxAgeSeconds = 600;

/** Why a logout token was refused: a fixed, non-secret word for the audit (never a claim's value). */
export class LogoutTokenRefused extends Error {
  constructor(readonly reason: string) {
    super(`logout token refused: ${reason}`);
    this.name = 'LogoutTokenRefused';
  }
}

/** What a verified logout token names. */
export interface LogoutClaims {
  iss: string;
  iat: number;
  jti: string;
  sid: string | null;
  sub: string | null;
}

export interface BackchannelOutcome {
  /** Which claim chose the sessions: `sid` (one provider session) or `sub` (every session of the subject). */
  by: 'sid' | 'sub';
  /** How many sessions ended. */
  ended: number;
}

/**
 * Verifies a provider's logout token (OpenID Connect Back-Channel Logout 1.0 §2.6, with jose, against
 * the provider's keys from discovery) and ends the sessions it names through the session service's
 * confirmed revocation path, so the very next request on every worker and node is refused (SPEC §8, §9).
 */
export class BackchannelLogout {
  readonly #clients: ProviderClients;
  readonly #store: OidcStore;
  readonly #sessions: SessionService;
  readonly #clock: Clock;
  /** One remote key set per provider and jwks_uri: jose caches the keys and refetches on an unknown `kid`. */
  readonly #keySets = new Map<string, { uri: string; keys: ReturnType<typeof createRemoteJWKSet> }>();

  constructor(deps: { clients: ProviderClients; store: OidcStore; sessions: SessionService; clock: Clock }) {
    this.#clients = deps.clients;
    this.#store = deps.store;
    this.#sessions = deps.sessions;
    this.#clock = deps.clock;
  }

  /**
   * Throws LogoutTokenRefused for a token that fails any check, GatewayError idp_unavailable when
   * the provider's metadata or keys cannot be read now (the provider may post again).
   */
  async logout(provider: OidcProviderConfig, token: string, context: AuditContext): Promise<BackchannelOutcome> {
    const claims = await this.verify(provider, token);
    const now = this.#clock.now();
    // The issuer scopes the id: two providers may well use the same `jti` values.
    const first = await this.#store.takeLogoutJti(sha256Hex(`${claims.iss}\n${claims.jti}`), (claims.iat + logoutTokenMaxAgeSeconds + logoutTokenSkewSeconds) * 1000, now);
    if (!first) throw new LogoutTokenRefused('jti_replayed');
    // §2.5: with a `sid`, the one provider session it names; with only a `sub`, all of the subject's.
    const by = claims.sid !== null ? 'sid' : 'sub';
    const handles = claims.sid !== null ? await this.#store.handlesBySid(claims.iss, claims.sid) : await this.#store.handlesBySubject(claims.iss, claims.sub!);
    const ended = await Promise.all(handles.map((handle) => this.#sessions.revokeByHandle(handle, context, 'backchannel_logout')));
    return { by, ended: ended.filter((s) => s !== null).length };
  }

  /** The token's claims once every check of §2.6 passed. */
  async verify(provider: OidcProviderConfig, token: string): Promise<LogoutClaims> {
    // Compact JWS (the signature part may be empty: jose refuses `alg: none` itself, by its name).
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) throw new LogoutTokenRefused('not_a_jws');
    const config = await this.#clients.config(provider);
    const metadata = config.serverMetadata();
    const jwksUri = metadata.jwks_uri;
    if (!jwksUri) throw new GatewayError('idp_unavailable', { message: 'The identity provider publishes no keys.' });
    // The provider's signing algorithms, only asymmetric ones: the key set holds public keys, and
    // `none` would be no signature at all (RFC 8725 §3.1).
    const advertised = metadata.id_token_signing_alg_values_supported ?? ['RS256'];
    const algorithms = advertised.filter((alg) => /^(RS|PS|ES|Ed)/.test(alg));
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(token, this.#keys(provider.name, jwksUri), {
        issuer: metadata.issuer,
        audience: provider.clientId,
        algorithms,
        clockTolerance: logoutTokenSkewSeconds,
        maxTokenAge: logoutTokenMaxAgeSeconds,
        requiredClaims: ['iat', 'jti'],
        currentDate: new Date(this.#clock.now()),
      });
    } catch (error) {
      if (isUnreachable(error)) throw new GatewayError('idp_unavailable', { cause: error });
      throw new LogoutTokenRefused(joseReason(error));
    }
    const { payload, protectedHeader } = verified;
    // §2.4: `typ` is recommended (RFC 8725 §3.11 explicit typing); when present it must say so.
    if (protectedHeader.typ !== undefined && protectedHeader.typ.toLowerCase().replace(/^application\//, '') !== 'logout+jwt') throw new LogoutTokenRefused('typ');
    // §2.4: a nonce is PROHIBITED, so that an ID token can never pass for a logout token.
    if ('nonce' in payload) throw new LogoutTokenRefused('nonce_present');
    const events = payload.events;
    const event = isObject(events) ? events[backchannelLogoutEvent] : undefined;
    if (!isObject(event)) throw new LogoutTokenRefused('events');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new LogoutTokenRefused('jti');
    const sid = payload.sid;
    const sub = payload.sub;
    if ((sid !== undefined && typeof sid !== 'string') || (sub !== undefined && typeof sub !== 'string')) throw new LogoutTokenRefused('sid_or_sub');
    if (!sid && !sub) throw new LogoutTokenRefused('sid_or_sub');
    // jwtVerify checked `iss` (equal to the issuer) and `iat` (present, a number).
    return { iss: payload.iss!, iat: payload.iat!, jti: payload.jti, sid: sid || null, sub: sub || null };
  }

  #keys(provider: string, uri: string): ReturnType<typeof createRemoteJWKSet> {
    const held = this.#keySets.get(provider);
    if (held && held.uri === uri) return held.keys;
    const keys = createRemoteJWKSet(new URL(uri), { timeoutDuration: providerTimeoutSeconds * 1000 });
    this.#keySets.set(provider, { uri, keys });
    return keys;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The key set could not be fetched: the provider is down, not the token wrong. */
function isUnreachable(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout) return true;
  if (!(error instanceof Error)) return false;
  return error.name === 'AbortError' || error.name === 'TimeoutError' || (error instanceof TypeError && /fetch failed/i.test(error.message));
}

/** jose's error as a fixed word: its codes name the check, its messages could quote a claim. */
function joseReason(error: unknown): string {
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim_${error.claim}`;
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'alg_not_allowed';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no_matching_key';
  if (error instanceof joseErrors.JOSEError) return error.code.replace(/^ERR_/, '').toLowerCase();
  return 'malformed';
}
