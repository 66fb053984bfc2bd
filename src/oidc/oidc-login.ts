import * as client from 'openid-client';
import type { UserRecord, UserStore } from '../accounts/user-store.js';
import type { OidcProviderConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import { sha256Hex } from '../security/hash.js';
import type { RandomBytes } from '../security/random.js';
import { open, seal } from '../secrets/envelope.js';
import type { Keyring } from '../secrets/keyring.js';
import { oidcLoginAad } from '../secrets/sealed-values.js';
import type { OidcSessionRecord, OidcStore } from './oidc-store.js';
import { classifyProviderError } from './provider-errors.js';
import type { ProviderClients } from './provider-clients.js';
import { refreshExpiresAt } from './refresh-expiry.js';
import { checkReturnTo } from './return-to.js';
import { mapRoles, sameRoles } from './role-rules.js';
import { sealSessionTokens } from './token-refresher.js';
import { providerUserName } from './user-name.js';

/** SPEC §9: a login state is kept 10 minutes. */
export const loginStateLifetimeMs = 10 * 60_000;

/** The path of a provider's redirect URI under server.publicOrigin: one per provider. */
export const callbackPrefix = '/auth/oidc/callback';

export interface BegunLogin {
  /** The provider's authorization endpoint with client_id, redirect_uri, scope, state, nonce and the S256 challenge. */
  location: string;
}

export interface FinishedLogin {
  user: UserRecord;
  returnTo: string;
  /** Whether the provider's `amr` holds one of `mfa.amr` (a completed second factor for `mfa: true` routes). */
  mfaCompleted: boolean;
  /** What to store beside the session once it exists (its handle is not known yet). */
  sessionRecord(handle: string, now: number): OidcSessionRecord;
}

interface SealedLogin {
  nonce: string;
  verifier: string;
}

/**
 * The authorization code flow with PKCE S256, state and nonce (OpenID Connect Core 1.0 §3.1,
 * RFC 7636, RFC 9207 `iss`), done by openid-client; this class keeps the login state (SPEC §9:
 * server-side, 10 minutes, once, bound to the browser) and turns the provider's identity into a
 * Gatehouse user.
 */
export class OidcLogin {
  readonly #clients: ProviderClients;
  readonly #store: OidcStore;
  readonly #users: UserStore;
  readonly #keyring: Keyring;
  readonly #random: RandomBytes;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #publicOrigin: string;
  readonly #userChanged: (userName: string) => Promise<void>;

  /** `userChanged`: as TokenRefresher's, for the roles a login recomputes. */
  constructor(deps: { clients: ProviderClients; store: OidcStore; users: UserStore; keyring: Keyring; random: RandomBytes; clock: Clock; logger: Logger; publicOrigin: string; userChanged?: (userName: string) => Promise<void> }) {
    this.#userChanged = deps.userChanged ?? (async () => undefined);
    this.#clients = deps.clients;
    this.#store = deps.store;
    this.#users = deps.users;
    this.#keyring = deps.keyring;
    this.#random = deps.random;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#publicOrigin = deps.publicOrigin;
  }

  redirectUri(provider: string): string {
    return `${this.#publicOrigin}${callbackPrefix}/${provider}`;
  }

  /** Starts a login for the browser whose login cookie is `browserToken`. */
  async begin(providerName: string, returnTo: string | null, browserToken: string): Promise<BegunLogin> {
    const provider = this.#provider(providerName);
    const target = checkReturnTo(returnTo, this.#publicOrigin);
    if (target === null) throw new GatewayError('invalid_return_to');
    const config = await this.#clients.config(provider);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const stateHash = sha256Hex(state);
    const now = this.#clock.now();
    await this.#store.putLoginState({
      stateHash,
      browserHash: sha256Hex(browserToken),
      provider: provider.name,
      sealed: seal(this.#keyring, oidcLoginAad(stateHash), JSON.stringify({ nonce, verifier } satisfies SealedLogin), this.#random),
      returnTo: target,
      createdAt: now,
      expiresAt: now + loginStateLifetimeMs,
    });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(provider.name),
      scope: provider.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { location: url.href };
  }

  /**
   * Finishes a login from the provider's redirect (`query`, without "?") in the browser whose login
   * cookie is `browserToken` (null when it sent none). Throws GatewayError with SPEC §9's codes.
   */
  async finish(providerName: string, query: string, browserToken: string | null): Promise<FinishedLogin> {
    const provider = this.#provider(providerName);
    const params = new URLSearchParams(query);
    const state = params.get('state');
    if (state === null || browserToken === null) throw new GatewayError('oidc_state_invalid');
    const stateHash = sha256Hex(state);
    const login = await this.#store.takeLoginState(stateHash, sha256Hex(browserToken), this.#clock.now());
    if (!login || login.provider !== provider.name) throw new GatewayError('oidc_state_invalid');
    const { nonce, verifier } = JSON.parse(open(this.#keyring, oidcLoginAad(stateHash), login.sealed).toString('utf8')) as SealedLogin;
    const config = await this.#clients.config(provider);
    const currentUrl = new URL(`${this.redirectUri(provider.name)}?${query}`);
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    let userinfo: Record<string, unknown> = {};
    try {
      tokens = await client.authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
      const claims = tokens.claims()!;
      if (config.serverMetadata().userinfo_endpoint) userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    } catch (error) {
      const code = classifyProviderError(error, config.serverMetadata().jwks_uri);
      this.#logger.info({ provider: provider.name, code, reason: reasonOf(error) }, 'OIDC login refused');
      throw new GatewayError(code, { cause: error });
    }
    const claims = tokens.claims()!;
    // The signed ID token's claims win over userinfo's (OpenID Connect Core 1.0 §5.3.2: userinfo's
    // `sub` must match, which fetchUserInfo checked).
    const merged: Record<string, unknown> = { ...userinfo, ...claims };
    const roles = mapRoles(provider.roles, merged);
    if (provider.requireRole && roles.length === 0) throw new GatewayError('no_role_mapped');
    const user = await this.#userFor(provider, claims.iss, claims.sub, merged, roles);
    if (user.locked) throw new GatewayError('oidc_access_denied');
    const amr = Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [];
    const expiresIn = tokens.expiresIn();
    const sealedTokens = (handle: string): string => sealSessionTokens(this.#keyring, handle, {
      idToken: tokens.id_token ?? null,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? null,
      ...(expiresIn === undefined ? {} : { accessLifetimeMs: expiresIn * 1000 }),
    }, this.#random);
    return {
      user,
      returnTo: login.returnTo,
      mfaCompleted: amr.some((m) => provider.mfa.amr.includes(m)),
      sessionRecord: (handle, now) => ({
        handle,
        provider: provider.name,
        issuer: claims.iss,
        subject: claims.sub,
        sid: typeof claims.sid === 'string' ? claims.sid : null,
        amr,
        sealedTokens: sealedTokens(handle),
        accessExpiresAt: expiresIn === undefined ? null : now + expiresIn * 1000,
        refreshExpiresAt: tokens.refresh_token === undefined ? null : refreshExpiresAt(tokens, now) ?? null,
        createdAt: now,
      }),
    };
  }

  #provider(name: string): OidcProviderConfig {
    const provider = this.#clients.provider(name);
    if (!provider) throw new GatewayError('not_found', { message: 'No such identity provider.' });
    return provider;
  }

  /**
   * The user (issuer, sub) logs in as (SPEC §9: never found by e-mail). A first login creates a user
   * without a password; a user linked by `gatehouse user link-oidc` keeps the roles given to it
   * locally, a user the provider created gets the mapped roles at every login.
   */
  async #userFor(provider: OidcProviderConfig, issuer: string, subject: string, claims: Record<string, unknown>, roles: string[]): Promise<UserRecord> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const identity = await this.#store.findIdentity(issuer, subject);
      if (identity) {
        const user = await this.#users.get(identity.userName);
        if (user) {
          if (user.passwordHash !== '') return user;
          if (!sameRoles(user.roles, roles)) {
            await this.#users.update(user.name, { roles });
            // The user's other sessions, remembered by any process, hold the old roles.
            await this.#userChanged(user.name);
          }
          return { ...user, roles };
        }
        // The user was removed: the identity is stale, and this login makes a new user.
        await this.#store.unlink(issuer, subject);
        continue;
      }
      const now = this.#clock.now();
      const user = await this.#createUser(provider, claims, subject, roles, now);
      if (await this.#store.link({ issuer, subject, userName: user.name, createdAt: now })) return user;
      // A concurrent first login of the same identity linked first: use its user.
      await this.#users.remove(user.name);
    }
    throw new Error('could not settle the user of an OIDC identity');
  }

  async #createUser(provider: OidcProviderConfig, claims: Record<string, unknown>, subject: string, roles: string[], now: number): Promise<UserRecord> {
    for (let n = 1; n <= 20; n += 1) {
      const name = providerUserName(provider.name, claims, subject, n, this.#random);
      const user: UserRecord = { name, roles, passwordHash: '', locked: false, passwordResetRequired: false, mfaEnabled: false, createdAt: now, lastLoginAt: null };
      if (await this.#users.create(user)) return user;
    }
    throw new Error('no free user name for an OIDC identity');
  }
}

/** A non-secret reason for the log: the error's class and code, never its message's values. */
function reasonOf(error: unknown): string {
  if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError) return `${error.name}:${error.error}`;
  if (error instanceof Error) return `${error.name}:${(error as { code?: string }).code ?? ''}`;
  return 'unknown';
}
