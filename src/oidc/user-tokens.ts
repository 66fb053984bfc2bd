import type { SessionMemory } from '../sessions/session-memory.js';
import type { OidcStore } from './oidc-store.js';
import type { OpenedSession, TokenRefresher } from './token-refresher.js';

export type { SessionTokens, OpenedSession } from './token-refresher.js';

/** What the session memory holds of a remembered session that logged in at a provider. */
export type HeldOidc = OpenedSession;

/**
 * The OIDC record and tokens of a session, for every request it makes (SPEC §9, decision 0012).
 * A session this process remembers (sessions/session-memory.ts) keeps them beside its entry, opened:
 * a request with a fresh access token then costs no store call and no provider call, as a local
 * session's costs none (SPEC §8 "Speed"). They are dropped with the entry by the memory's one
 * forget path, so every revocation drops them; anything else reads the store, as without memory.
 *
 * A due access token is never refreshed from memory alone: the refresh (token-refresher.ts) reads
 * the store first, since another process or node may have rotated the refresh token this process
 * holds, and its result reaches the memory only through `SessionMemory.rememberOidc`.
 */
export class UserTokens {
  readonly #store: OidcStore;
  readonly #refresher: TokenRefresher;
  readonly #memory: SessionMemory | null;

  constructor(deps: { store: OidcStore; refresher: TokenRefresher; memory?: SessionMemory | null }) {
    this.#store = deps.store;
    this.#refresher = deps.refresher;
    this.#memory = deps.memory ?? null;
  }

  /**
   * `current`'s answer without a promise when the memory holds it and the access token is fresh
   * (the common case: no microtask on the hot path, as SessionService.validateNow); undefined when
   * only `current` can answer.
   */
  currentNow(handle: string): OpenedSession | null | undefined {
    const held = this.#held(handle);
    if (held === undefined || held === null) return held;
    // Past the refresh token's lifetime: `current` ends it (SessionEnded).
    if (this.#refresher.outlived(held.record)) return undefined;
    return this.#refresher.isFresh(held.record, held.tokens) ? held : undefined;
  }

  /**
   * The session's record with an access token valid past the refresh margin, refreshed if need be;
   * null when the session has no OIDC record (a local login). SessionEnded (401 session_expired)
   * when the provider refused the refresh or the session is past its refresh token's lifetime (the
   * caller ends the session), idp_unavailable when the provider could not be reached.
   */
  async current(handle: string): Promise<OpenedSession | null> {
    const memory = this.#memory;
    let held = this.#held(handle);
    if (held === undefined) {
      // Read before the store read: a revocation applied while it is in flight keeps the result out.
      const epoch = memory?.epoch ?? 0;
      const record = await this.#store.getSession(handle);
      held = record ? { record, tokens: this.#refresher.open(record) } : null;
      memory?.rememberOidc(handle, held, epoch);
    }
    if (held === null) return null;
    this.#refresher.checkRefreshLifetime(held.record);
    if (this.#refresher.isFresh(held.record, held.tokens)) return held;
    const epoch = memory?.epoch ?? 0;
    const next = await this.#refresher.refreshed(held.record);
    memory?.rememberOidc(handle, next, epoch);
    return next;
  }

  /** What the memory holds, while it may answer (trusted: caught up with the revocation log). */
  #held(handle: string): OpenedSession | null | undefined {
    const memory = this.#memory;
    return memory?.trusted ? memory.oidcOf(handle) : undefined;
  }
}
