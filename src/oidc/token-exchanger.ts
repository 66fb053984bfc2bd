import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { InProcessFlights } from '../cluster/single-flight.js';
import type { RevocationScope } from '../cluster/revocation-log.js';
import type { TokenExchangeConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import type { ProviderClients } from './provider-clients.js';
import { idpRetryAfterSeconds, refreshMarginMs } from './token-refresher.js';

/** RFC 8693 §2.1 and §3. */
export const tokenExchangeGrant = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';

/** As many sessions as the session memory holds (decision 0008); the least recently stored goes first. */
const defaultMaxSessions = 10_000;
const sweepEveryMs = 60_000;

/** One request's wish: trade this session's (fresh) access token for one meant for an upstream. */
export interface ExchangeRequest {
  /** The session's handle: the cache is per session, and revocations name handles. */
  handle: string;
  /** The session's user: revocations of every session of a user name the user. */
  user: string;
  /** The oidc.providers name the session logged in at. */
  provider: string;
  /** The session's access token, fresh (the oidc-refresh stage refreshed it if it was due). */
  accessToken: string;
  exchange: TokenExchangeConfig;
}

interface Exchanged {
  token: string;
  /** By the gateway's clock; null when the provider did not say (then kept while the subject token is). */
  expiresAt: number | null;
  lifetimeMs: number | null;
}

interface SessionExchanges {
  /** SHA-256 of the access token these were exchanged for: a refreshed session's are not reused. */
  subject: string;
  user: string;
  byTarget: Map<string, Exchanged>;
}

/**
 * RFC 8693 token exchange for `user-token` upstreams with `exchange` (SPEC §9, decision 0013): the
 * session's access token is traded at its provider (openid-client's genericGrantRequest) for one
 * issued for the upstream's audience and scope, and that token is what the upstream receives.
 *
 * Kept in this process's memory per (session, audience, scope) until shortly before it expires, so
 * repeated requests do not exchange again; concurrent requests of one session share one exchange
 * (InProcessFlights). Not across processes: an exchange consumes nothing at the provider (unlike a
 * rotating refresh), so a second one in another process is merely redundant.
 *
 * Dropped when the session's access token changes (a refresh: the exchanged tokens were made from
 * the old one), and when the session ends: every revocation this process makes or hears of reaches
 * `forget` (wired beside SessionMemory's). Exchanged tokens are never logged.
 */
export class TokenExchanger {
  readonly #clients: ProviderClients;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxSessions: number;
  /** Map order is recency of storing: the first key goes when the map is full. */
  readonly #sessions = new Map<string, SessionExchanges>();
  readonly #flights = new InProcessFlights();
  /** Exchanges in flight: one whose session a revocation names meanwhile is not stored (the session ended). */
  readonly #pending = new Set<{ readonly handle: string; readonly user: string; revoked: boolean }>();
  #sweptAt = 0;

  constructor(deps: { clients: ProviderClients; clock: Clock; logger: Logger; maxSessions?: number }) {
    this.#clients = deps.clients;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#maxSessions = deps.maxSessions ?? defaultMaxSessions;
  }

  /**
   * The token to send upstream. GatewayError `forbidden` when the provider refuses the exchange
   * (an OAuth error answer: invalid_grant, invalid_target, invalid_scope, unauthorized_client, …),
   * `idp_unavailable` (with Retry-After) when it cannot be reached, fails on its side or answers
   * something that is not an access token.
   */
  async exchanged(request: ExchangeRequest): Promise<string> {
    const subject = createHash('sha256').update(request.accessToken).digest('base64url');
    const target = `${request.exchange.audience}\n${request.exchange.scope ?? ''}`;
    let session = this.#sessions.get(request.handle);
    if (session && session.subject !== subject) {
      this.#sessions.delete(request.handle);
      session = undefined;
    }
    const kept = session?.byTarget.get(target);
    if (kept && this.#usable(kept)) return kept.token;
    return this.#flights.run(`${request.handle}\n${subject}\n${target}`, async () => {
      const pending = { handle: request.handle, user: request.user, revoked: false };
      this.#pending.add(pending);
      try {
        const fresh = await this.#exchange(request);
        if (!pending.revoked) this.#store(request, subject, target, fresh);
        return fresh.token;
      } finally {
        this.#pending.delete(pending);
      }
    });
  }

  /** Drops what a revocation names: one session by handle, every session of a user, or all. */
  forget(scope: RevocationScope, subject: string | null): void {
    for (const pending of this.#pending) {
      if (scope === 'all' || (scope === 'session' ? pending.handle : pending.user) === subject) pending.revoked = true;
    }
    if (scope === 'all') {
      this.#sessions.clear();
      return;
    }
    if (scope === 'session') {
      this.#sessions.delete(subject!);
      return;
    }
    for (const [handle, session] of this.#sessions) {
      if (session.user === subject) this.#sessions.delete(handle);
    }
  }

  /** How many exchanged tokens this process keeps for a session (tests: nothing after it ended). */
  keptFor(handle: string): number {
    return this.#sessions.get(handle)?.byTarget.size ?? 0;
  }

  /** How many sessions have exchanged tokens kept. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Valid past the margin: the upstream must still accept it after the request's transit and the
   * clocks' disagreement. At most half its lifetime, as for the session's own token
   * (token-refresher.ts), or a provider's short-lived tokens would be exchanged at every request.
   */
  #usable(kept: Exchanged): boolean {
    if (kept.expiresAt === null) return true;
    const margin = kept.lifetimeMs === null ? refreshMarginMs : Math.min(refreshMarginMs, Math.floor(kept.lifetimeMs / 2));
    return kept.expiresAt - margin > this.#clock.now();
  }

  #store(request: ExchangeRequest, subject: string, target: string, fresh: Exchanged): void {
    let session = this.#sessions.get(request.handle);
    if (session && session.subject !== subject) session = undefined;
    this.#sessions.delete(request.handle);
    session ??= { subject, user: request.user, byTarget: new Map() };
    session.byTarget.set(target, fresh);
    this.#sessions.set(request.handle, session);
    while (this.#sessions.size > this.#maxSessions) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sweep();
  }

  /**
   * A session that ends without a revocation (idle or absolute timeout, removed by housekeeping)
   * is not forgotten: its tokens go here once expired, at most once a minute (exchanges are rare).
   */
  #sweep(): void {
    const now = this.#clock.now();
    if (now - this.#sweptAt < sweepEveryMs) return;
    this.#sweptAt = now;
    for (const [handle, session] of this.#sessions) {
      for (const [target, kept] of session.byTarget) {
        if (kept.expiresAt !== null && kept.expiresAt <= now) session.byTarget.delete(target);
      }
      if (session.byTarget.size === 0) this.#sessions.delete(handle);
    }
  }

  async #exchange(request: ExchangeRequest): Promise<Exchanged> {
    const provider = this.#clients.provider(request.provider);
    // The config names an oidc provider for every user-token upstream (cross-check.ts).
    if (!provider) throw new GatewayError('internal_error');
    const config = await this.#clients.config(provider).catch((error: unknown) => {
      throw error instanceof GatewayError && error.code === 'idp_unavailable' ? unavailable(error.cause) : error;
    });
    const { audience, scope } = request.exchange;
    let answer: Awaited<ReturnType<typeof client.genericGrantRequest>>;
    try {
      answer = await client.genericGrantRequest(config, tokenExchangeGrant, {
        subject_token: request.accessToken,
        subject_token_type: accessTokenType,
        requested_token_type: accessTokenType,
        audience,
        ...(scope === undefined ? {} : { scope }),
      });
    } catch (error) {
      // RFC 8693 §2.2.2 / RFC 6749 §5.2: an error answer is the provider's decision about this user,
      // client, audience or scope; asking again will not change it.
      if (error instanceof client.ResponseBodyError && error.status < 500) {
        this.#logger.warn({ provider: provider.name, session: request.handle, audience, error: error.error }, 'the provider refused the token exchange');
        throw new GatewayError('forbidden', { cause: error });
      }
      this.#logger.warn({ provider: provider.name, session: request.handle, audience, reason: error instanceof Error ? error.name : 'unknown' }, 'the token exchange failed');
      throw unavailable(error);
    }
    // We asked for an access token to send as a bearer (RFC 8693 §2.2.1: issued_token_type is
    // REQUIRED); anything else cannot be sent upstream.
    if (answer.issued_token_type !== accessTokenType || answer.token_type.toLowerCase() !== 'bearer') {
      this.#logger.warn({ provider: provider.name, session: request.handle, audience, issuedTokenType: answer.issued_token_type ?? null, tokenType: answer.token_type }, 'the token exchange answered with something other than a bearer access token');
      throw unavailable(null);
    }
    const expiresIn = answer.expiresIn();
    return {
      token: answer.access_token,
      expiresAt: expiresIn === undefined ? null : this.#clock.now() + expiresIn * 1000,
      lifetimeMs: expiresIn === undefined ? null : expiresIn * 1000,
    };
  }
}

function unavailable(cause: unknown): GatewayError {
  return new GatewayError('idp_unavailable', { headers: { 'retry-after': String(idpRetryAfterSeconds) }, cause });
}
