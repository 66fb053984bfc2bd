import * as client from 'openid-client';
import type { Logger } from '../log/logger.js';
import type { SessionRecord } from '../sessions/session-store.js';
import type { OidcSessionRecord, OidcStore } from './oidc-store.js';
import type { ProviderClients } from './provider-clients.js';
import { revokeRefreshToken } from './revoke-refresh-token.js';
import type { TokenRefresher } from './token-refresher.js';

/**
 * The provider's part of logging out a session that logged in there (SPEC §9), done once the
 * session has ended locally, so nothing here can keep it alive: the refresh token is revoked
 * (RFC 7009), and the provider's end-session URL is built with the ID token as `id_token_hint`
 * (OpenID Connect RP-Initiated Logout 1.0 §2) for the browser to visit. No
 * `post_logout_redirect_uri` is sent: a provider refuses one that is not registered for the client,
 * and then shows its own signed-out page instead, which it does without one too.
 */
export class ProviderLogout {
  readonly #clients: ProviderClients;
  readonly #store: OidcStore;
  readonly #refresher: TokenRefresher;
  readonly #logger: Logger;

  constructor(deps: { clients: ProviderClients; store: OidcStore; refresher: TokenRefresher; logger: Logger }) {
    this.#clients = deps.clients;
    this.#store = deps.store;
    this.#refresher = deps.refresher;
    this.#logger = deps.logger;
  }

  /** The session's OIDC record, read before the session ends; null for a local login. */
  recordOf(session: SessionRecord): Promise<OidcSessionRecord | null> {
    return this.#store.getSession(session.handle);
  }

  /**
   * Revokes the refresh token and answers the end-session URL, or null when there is none to give:
   * the provider has no end_session_endpoint, the session holds no ID token, or the provider's
   * metadata cannot be read now. A provider that cannot be reached is logged (never a token) and
   * does not fail the logout.
   */
  async finish(record: OidcSessionRecord): Promise<string | null> {
    const provider = this.#clients.provider(record.provider);
    if (!provider) return null;
    let config: client.Configuration;
    try {
      config = await this.#clients.config(provider);
    } catch {
      this.#logger.warn({ provider: provider.name, session: record.handle }, 'OIDC logout: the provider cannot be reached; its refresh token was not revoked and no end-session URL is given');
      return null;
    }
    // Read again now that the session has ended: a refresh that stored its tokens between the read
    // before and the end rotated the refresh token, and after the end none can store any more
    // (OidcStore.replaceSession, decision 0011), so this is the last refresh token the session had.
    // Housekeeping may have purged the record meanwhile: then the one read before is the last.
    const current = (await this.#store.getSession(record.handle).catch(() => null)) ?? record;
    const tokens = this.#refresher.open(current);
    if (tokens.refreshToken !== null) {
      await revokeRefreshToken(config, tokens.refreshToken, this.#logger, { provider: provider.name, session: record.handle }, 'OIDC logout: the refresh token could not be revoked at the provider');
    }
    if (tokens.idToken === null || !config.serverMetadata().end_session_endpoint) return null;
    return client.buildEndSessionUrl(config, { id_token_hint: tokens.idToken }).href;
  }
}
