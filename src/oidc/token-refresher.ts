import * as client from 'openid-client';
import { SingleFlightTimeoutError, type SingleFlight } from '../cluster/single-flight.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { UserStore } from '../accounts/user-store.js';
import type { OidcProviderConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import type { RandomBytes } from '../security/random.js';
import { open, seal } from '../secrets/envelope.js';
import type { Keyring } from '../secrets/keyring.js';
import { oidcTokensAad } from '../secrets/sealed-values.js';
import type { OidcSessionRecord, OidcStore } from './oidc-store.js';
import { classifyProviderError } from './provider-errors.js';
import type { ProviderClients } from './provider-clients.js';
import { pastRefreshToken, refreshExpiresAt } from './refresh-expiry.js';
import { revokeRefreshToken } from './revoke-refresh-token.js';
import { mapRoles, sameRoles } from './role-rules.js';

/** The tokens an OIDC session holds, as oidc-login.ts sealed them. */
export interface SessionTokens {
  readonly idToken: string | null;
  readonly accessToken: string;
  readonly refreshToken: string | null;
  /** How long the access token was issued for (ms), when the provider said; absent in older records. */
  readonly accessLifetimeMs?: number;
}

/** Why a session's tokens can no longer be used: the audit's reason when the caller ends the session. */
export type SessionEndReason = 'refresh_rejected' | 'refresh_token_expired' | 'no_role_mapped';

/** 401 session_expired, with why, for the caller that ends the session (SPEC §9). */
export class SessionEnded extends GatewayError {
  readonly reason: SessionEndReason;

  constructor(reason: SessionEndReason, cause?: unknown) {
    super('session_expired', { cause });
    this.reason = reason;
  }
}

/** A session's OIDC record as stored, with its tokens opened. */
export interface OpenedSession {
  readonly record: OidcSessionRecord;
  readonly tokens: SessionTokens;
}

/**
 * An access token this close to its expiry is refreshed before use: it must still be valid when
 * the upstream checks it, after the request's own transit and the clocks' disagreement. At most
 * half the token's lifetime, or a provider's short-lived tokens would be due as soon as issued
 * and every request would refresh.
 */
export const refreshMarginMs = 30_000;

/** A session's tokens sealed under the master key, bound to its handle: the one way they are written. */
export function sealSessionTokens(keyring: Keyring, handle: string, tokens: SessionTokens, random: RandomBytes): string {
  return seal(keyring, oidcTokensAad(handle), JSON.stringify(tokens), random);
}

export function marginFor(tokens: SessionTokens): number {
  return tokens.accessLifetimeMs === undefined ? refreshMarginMs : Math.min(refreshMarginMs, Math.floor(tokens.accessLifetimeMs / 2));
}

/** Retry-After of a 503 idp_unavailable from a refresh: a provider's restart takes seconds. */
export const idpRetryAfterSeconds = 5;

/**
 * Longer than a refresh can take (openid-client gives up after providerTimeoutSeconds), so a
 * holder's lease never runs out while its exchange with the provider is still on its way.
 */
const refreshLeaseMs = 15_000;

export function refreshKey(handle: string): string {
  return `refresh:${handle}`;
}

/**
 * Refreshes a session's tokens before they expire, once per session across every process and node
 * (SPEC §9, decision 0011): the provider rotates refresh tokens, so a second refresh with the token
 * the first one consumed would be refused and end the session. Callers of the same session wait on
 * the holder's lease and read the tokens it stored.
 *
 * Outcomes, shared by every caller of the attempt: the provider refuses the refresh token
 * (`invalid_grant`) → GatewayError session_expired (the caller ends the session); it cannot be
 * reached or fails on its side → GatewayError idp_unavailable with Retry-After, the session kept.
 */
export class TokenRefresher {
  readonly #store: OidcStore;
  readonly #keyring: Keyring;
  readonly #random: RandomBytes;
  readonly #clock: Clock;
  readonly #clients: ProviderClients;
  readonly #flight: SingleFlight;
  readonly #logger: Logger;
  readonly #users: UserStore;
  readonly #userChanged: (userName: string) => Promise<void>;

  /**
   * `userChanged`: makes every process forget the user's remembered sessions once its roles
   * changed (SessionService.userChanged), so the change holds on the very next request anywhere.
   */
  constructor(deps: { store: OidcStore; users: UserStore; keyring: Keyring; random: RandomBytes; clock: Clock; clients: ProviderClients; flight: SingleFlight; logger: Logger; userChanged?: (userName: string) => Promise<void> }) {
    this.#users = deps.users;
    this.#userChanged = deps.userChanged ?? (async () => undefined);
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#random = deps.random;
    this.#clock = deps.clock;
    this.#clients = deps.clients;
    this.#flight = deps.flight;
    this.#logger = deps.logger;
  }

  /** Whether the record's access token is valid past the margin at the injected clock's now. */
  isFresh(record: OidcSessionRecord, tokens: SessionTokens): boolean {
    return record.accessExpiresAt === null || record.accessExpiresAt - marginFor(tokens) > this.#clock.now();
  }

  /** Whether the session is past its refresh token's lifetime at the injected clock's now. */
  outlived(record: OidcSessionRecord): boolean {
    return pastRefreshToken(record, this.#clock.now());
  }

  /** Throws SessionEnded (401 session_expired) once the session is past its refresh token's lifetime. */
  checkRefreshLifetime(record: OidcSessionRecord): void {
    if (this.outlived(record)) throw new SessionEnded('refresh_token_expired');
  }

  open(record: OidcSessionRecord): SessionTokens {
    return JSON.parse(open(this.#keyring, oidcTokensAad(record.handle), record.sealedTokens).toString('utf8')) as SessionTokens;
  }

  /**
   * The session's record and tokens with an access token valid past the margin, refreshed if need
   * be. `record` is what the caller holds (from the store, or from its memory): it decides only
   * whether the store's tokens are newer; the store is always read first (`fresh`), since another
   * process or node may have rotated the refresh token the caller holds (decision 0012).
   */
  async refreshed(record: OidcSessionRecord): Promise<OpenedSession> {
    const handle = record.handle;
    try {
      return await this.#flight.run(refreshKey(handle), {
        fresh: async () => {
          const current = await this.#store.getSession(handle);
          // A vanished record: nothing to refresh with; `work` reports it.
          if (!current) return null;
          // Tokens other than the ones this caller came with, still unexpired, are another caller's
          // refresh: used even if the provider's lifetime is shorter than the margin, or each
          // caller in turn would refresh again.
          const tokens = this.open(current);
          const replaced = current.sealedTokens !== record.sealedTokens && (current.accessExpiresAt === null || current.accessExpiresAt > this.#clock.now());
          return replaced || this.isFresh(current, tokens) ? { record: current, tokens } : null;
        },
        work: () => this.#refresh(handle),
      });
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      if (error instanceof SingleFlightTimeoutError) throw new GatewayError('store_unavailable', { headers: { 'retry-after': String(idpRetryAfterSeconds) }, cause: error });
      throw error;
    }
  }

  async #refresh(handle: string): Promise<OpenedSession> {
    const record = await this.#store.getSession(handle);
    if (!record) throw new SessionEnded('refresh_rejected');
    // Past its lifetime the provider would refuse the refresh token: the session is over, unasked.
    this.checkRefreshLifetime(record);
    const tokens = this.open(record);
    // Without a refresh token the session cannot outlive its access token (SPEC §9).
    if (tokens.refreshToken === null) throw new SessionEnded('refresh_rejected');
    const provider = this.#clients.provider(record.provider);
    if (!provider) throw new SessionEnded('refresh_rejected');
    const config = await this.#clients.config(provider).catch((error: unknown) => {
      throw error instanceof GatewayError ? withRetryAfter(error) : error;
    });
    let answer: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      answer = await client.refreshTokenGrant(config, tokens.refreshToken);
    } catch (error) {
      if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
        this.#logger.info({ provider: provider.name, session: handle }, 'the provider refused to refresh a session (invalid_grant)');
        throw new SessionEnded('refresh_rejected', error);
      }
      // Anything else keeps the session and answers 503 with Retry-After, an answer whose ID token
      // fails its checks (a signature not by the provider's keys, a wrong audience) included: the
      // provider did not refuse the refresh token, and the answer's tokens are never stored nor sent
      // upstream. A rotating provider has consumed the refresh token meanwhile, so the next attempt
      // gets invalid_grant and ends the session (the SPEC §9 path); a non-rotating one recovers.
      const code = classifyProviderError(error, config.serverMetadata().jwks_uri);
      this.#logger.warn({ provider: provider.name, session: handle, code, reason: reasonOf(error) }, 'OIDC refresh failed');
      throw withRetryAfter(new GatewayError('idp_unavailable', { cause: error }));
    }
    const expiresIn = answer.expiresIn();
    const now = this.#clock.now();
    // A provider that does not rotate answers without a refresh token: the old one stays valid, and
    // its lifetime stands unless the answer gives it anew.
    const next: SessionTokens = {
      idToken: answer.id_token ?? tokens.idToken,
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token ?? tokens.refreshToken,
      ...(expiresIn === undefined ? {} : { accessLifetimeMs: expiresIn * 1000 }),
    };
    const roles = await this.#mappedRoles(provider, config, record, answer);
    // SPEC §9 `requireRole`: a login that maps to no role is refused, and so is a refresh; the
    // session ends (its new tokens are not kept).
    if (roles !== null && provider.requireRole && roles.length === 0) {
      this.#logger.info({ provider: provider.name, session: handle }, 'a refresh mapped to no role (requireRole); the session ends');
      throw new SessionEnded('no_role_mapped');
    }
    const stored: OidcSessionRecord = {
      ...record,
      sealedTokens: sealSessionTokens(this.#keyring, handle, next, this.#random),
      accessExpiresAt: expiresIn === undefined ? null : now + expiresIn * 1000,
      refreshExpiresAt: refreshExpiresAt(answer, now) ?? (answer.refresh_token === undefined ? record.refreshExpiresAt : null),
    };
    // Decision 0011: the session may have ended while the provider answered (a logout, a revocation,
    // a back-channel logout, a lock). Written only while it exists, in one statement, so a logout
    // that reads the record after ending the session sees these tokens; otherwise nothing is kept,
    // the ended session's record goes now rather than at housekeeping, and the refresh token just
    // issued is revoked here, since no one else knows it.
    if (!(await this.#store.replaceSession(stored))) {
      this.#logger.info({ provider: provider.name, session: handle }, 'the session ended during its refresh; the new refresh token is revoked, nothing is kept');
      await this.#store.purgeSession(handle);
      if (answer.refresh_token !== undefined) {
        await revokeRefreshToken(config, answer.refresh_token, this.#logger, { provider: provider.name, session: handle }, 'the refresh token of a session that ended during its refresh could not be revoked at the provider');
      }
      throw new SessionEnded('refresh_rejected');
    }
    if (roles !== null) await this.#updateRoles(record, roles);
    return { record: stored, tokens: next };
  }

  /**
   * SPEC §9 "Roles are computed from the claims at every login and refresh": the refreshed ID
   * token's claims over the userinfo the new access token reads, as at login. Null when userinfo
   * fails: the roles stay as they were, the tokens are refreshed, and the next refresh tries again.
   */
  async #mappedRoles(provider: OidcProviderConfig, config: client.Configuration, record: OidcSessionRecord, answer: Awaited<ReturnType<typeof client.refreshTokenGrant>>): Promise<string[] | null> {
    try {
      const userinfo = config.serverMetadata().userinfo_endpoint ? await client.fetchUserInfo(config, answer.access_token, record.subject) : {};
      return mapRoles(provider.roles, { ...userinfo, ...(answer.claims() ?? {}) });
    } catch (error) {
      this.#logger.warn({ provider: provider.name, session: record.handle, reason: error instanceof Error ? error.name : 'unknown' }, 'userinfo after a refresh failed; roles kept');
      return null;
    }
  }

  /**
   * The user the provider created gets the mapped roles (a linked local user keeps its local
   * roles, as at login), and every process forgets its remembered sessions before the refresh
   * answers: the next request, wherever it arrives, is judged on the new roles.
   */
  async #updateRoles(record: OidcSessionRecord, roles: string[]): Promise<void> {
    const identity = await this.#store.findIdentity(record.issuer, record.subject);
    const user = identity ? await this.#users.get(identity.userName) : null;
    if (!user || user.passwordHash !== '' || sameRoles(user.roles, roles)) return;
    await this.#users.update(user.name, { roles });
    await this.#userChanged(user.name);
  }
}

/** A non-secret reason for the log: the error's class and code, never its message's values. */
function reasonOf(error: unknown): string {
  return error instanceof Error ? `${error.name}:${(error as { code?: string }).code ?? ''}` : 'unknown';
}

function withRetryAfter(error: GatewayError): GatewayError {
  if (error.code !== 'idp_unavailable' || error.headers['retry-after']) return error;
  return new GatewayError('idp_unavailable', { headers: { 'retry-after': String(idpRetryAfterSeconds) }, cause: error.cause });
}

const sessionEndReasons: readonly SessionEndReason[] = ['refresh_rejected', 'refresh_token_expired', 'no_role_mapped'];

/** SingleFlight's mapping of a holder's outcome to what its waiters (in any process) throw. */
export const refreshFailures = {
  failureCode(error: unknown): string {
    if (error instanceof SessionEnded) return error.reason;
    return error instanceof GatewayError && error.code === 'session_expired' ? 'refresh_rejected' : 'idp_unavailable';
  },
  failureError(code: string): Error {
    return sessionEndReasons.includes(code as SessionEndReason)
      ? new SessionEnded(code as SessionEndReason)
      : new GatewayError('idp_unavailable', { headers: { 'retry-after': String(idpRetryAfterSeconds) } });
  },
  ttlMs: refreshLeaseMs,
};
