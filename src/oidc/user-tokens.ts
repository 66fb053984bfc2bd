import type { OidcStore } from './oidc-store.js';
import type { SessionTokens, TokenRefresher } from './token-refresher.js';

export type { SessionTokens } from './token-refresher.js';

/**
 * The tokens of a session that logged in at a given provider, opened from the store for one
 * request and not kept: no process-wide copy exists that a revocation would have to reach
 * (SPEC §8), and a heap dump holds only the tokens of requests in flight. An access token about
 * to expire is refreshed first (token-refresher.ts).
 */
export class UserTokens {
  readonly #store: OidcStore;
  readonly #refresher: TokenRefresher;

  constructor(deps: { store: OidcStore; refresher: TokenRefresher }) {
    this.#store = deps.store;
    this.#refresher = deps.refresher;
  }

  /**
   * Null when the session has no OIDC record (a local login) or logged in at another provider.
   * SessionEnded (401 session_expired) when the provider refused the refresh or the session is
   * past its refresh token's lifetime (the caller ends the session), idp_unavailable when it could not be reached.
   */
  async forSession(handle: string, provider: string): Promise<SessionTokens | null> {
    const record = await this.#store.getSession(handle);
    if (!record || record.provider !== provider) return null;
    this.#refresher.checkRefreshLifetime(record);
    const tokens = this.#refresher.open(record);
    return this.#refresher.isFresh(record, tokens) ? tokens : this.#refresher.refreshed(record);
  }
}
