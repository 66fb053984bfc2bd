import type { Keyring } from '../secrets/keyring.js';
import { open } from '../secrets/envelope.js';
import { oidcTokensAad } from '../secrets/sealed-values.js';
import type { OidcStore } from './oidc-store.js';

/** The tokens an OIDC session holds, as oidc-login.ts sealed them. */
export interface SessionTokens {
  readonly idToken: string | null;
  readonly accessToken: string;
  readonly refreshToken: string | null;
}

/**
 * The tokens of a session that logged in at a given provider, opened from the store for one
 * request and not kept: no process-wide copy exists that a revocation would have to reach
 * (SPEC §8), and a heap dump holds only the tokens of requests in flight.
 */
export class UserTokens {
  readonly #store: OidcStore;
  readonly #keyring: Keyring;

  constructor(deps: { store: OidcStore; keyring: Keyring }) {
    this.#store = deps.store;
    this.#keyring = deps.keyring;
  }

  /** Null when the session has no OIDC record (a local login) or logged in at another provider. */
  async forSession(handle: string, provider: string): Promise<SessionTokens | null> {
    const record = await this.#store.getSession(handle);
    if (!record || record.provider !== provider) return null;
    return JSON.parse(open(this.#keyring, oidcTokensAad(handle), record.sealedTokens).toString('utf8')) as SessionTokens;
  }
}
