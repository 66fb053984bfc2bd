import type { Resealable } from '../secrets/resealable.js';

/**
 * A login begun at a provider and not yet finished (SPEC §9): kept 10 minutes, used once, bound to
 * the browser that began it. Only hashes of the state and of the browser's binding cookie are kept,
 * so a copy of the store cannot finish anybody's login; the nonce and PKCE verifier are sealed.
 */
export interface LoginStateRecord {
  /** SHA-256 hex of the `state` parameter: the key the callback finds the login by. */
  stateHash: string;
  /** SHA-256 hex of the login cookie's value (the browser binding). */
  browserHash: string;
  provider: string;
  /** `{nonce, verifier}` sealed under the master key (aad: oidcLoginAad(stateHash)). */
  sealed: string;
  /** A path on this origin, checked when the login began. */
  returnTo: string;
  createdAt: number;
  expiresAt: number;
}

/** A provider identity that logs in as a Gatehouse user: (issuer, sub), never an e-mail (SPEC §9). */
export interface IdentityRecord {
  issuer: string;
  subject: string;
  userName: string;
  createdAt: number;
}

/**
 * What a session that began at a provider carries besides the session itself, keyed by the
 * session's handle (which survives id rotation). The tokens are sealed under the master key.
 */
export interface OidcSessionRecord {
  handle: string;
  provider: string;
  issuer: string;
  subject: string;
  /** The provider's session id (`sid`), for back-channel logout; null when the provider sent none. */
  sid: string | null;
  /** RFC 8176 authentication methods the ID token reported. */
  amr: string[];
  /** `{idToken, accessToken, refreshToken}` sealed under the master key (aad: oidcTokensAad(handle)). */
  sealedTokens: string;
  /** When the access token expires (ms), or null when the provider did not say. */
  accessExpiresAt: number | null;
  /**
   * When the refresh token expires (ms), or null when the provider did not say (oidc/refresh-expiry.ts):
   * the session ends there (SPEC §9 "A session never outlives its refresh token"). Written with
   * the tokens, at login and at every refresh.
   */
  refreshExpiresAt: number | null;
  createdAt: number;
}

/** The OIDC store port. Every adapter passes storage/contract/oidc-store.contract.ts. */
export interface OidcStore extends Resealable {
  putLoginState(record: LoginStateRecord): Promise<void>;
  /**
   * Deletes and returns the login state when it exists, is unexpired at `now` AND belongs to the
   * browser `browserHash` names, in ONE statement: a state is used once, and another browser's
   * attempt neither uses nor spends it (a login CSRF cannot cancel the victim's own login).
   */
  takeLoginState(stateHash: string, browserHash: string, now: number): Promise<LoginStateRecord | null>;
  /** Deletes every login state expired at `now`; how many (housekeeping). */
  purgeLoginStates(now: number): Promise<number>;
  /** Links an identity to a user; false (nothing changed) when that identity is linked already. */
  link(identity: IdentityRecord): Promise<boolean>;
  findIdentity(issuer: string, subject: string): Promise<IdentityRecord | null>;
  /** The identities that log in as `userName`, oldest first. */
  identitiesOf(userName: string): Promise<IdentityRecord[]>;
  /** Removes every identity of `userName`; how many. */
  unlinkUser(userName: string): Promise<number>;
  /** Removes one identity; false when there was none. */
  unlink(issuer: string, subject: string): Promise<boolean>;
  /** Creates or replaces the session's OIDC record. */
  putSession(record: OidcSessionRecord): Promise<void>;
  /**
   * Replaces the session's OIDC record only while the session itself exists, in ONE statement
   * (decision 0011): false, nothing written, once the session has ended. A refresh that finishes
   * after a logout or a revocation thus leaves no record, and a logout that reads the record after
   * ending the session reads the last tokens any refresh stored.
   */
  replaceSession(record: OidcSessionRecord): Promise<boolean>;
  getSession(handle: string): Promise<OidcSessionRecord | null>;
  /** Deletes the records whose session no longer exists; how many (housekeeping). */
  purgeSessions(): Promise<number>;
  /** Deletes the session's record if the session no longer exists; false while it does (or no record). */
  purgeSession(handle: string): Promise<boolean>;
  /** The handles of the sessions of one provider session (its `sid` at `issuer`), oldest first. */
  handlesBySid(issuer: string, sid: string): Promise<string[]>;
  /** The handles of every session of the identity (issuer, subject), oldest first. */
  handlesBySubject(issuer: string, subject: string): Promise<string[]>;
  /**
   * Records a logout token's id (a hash of issuer and `jti`) as seen until `expiresAt`, in ONE
   * statement: true for the first caller, false while it is recorded and unexpired at `now` (SPEC §9:
   * each `jti` once, across every process and node).
   */
  takeLogoutJti(jtiHash: string, expiresAt: number, now: number): Promise<boolean>;
  /** Deletes the logout token ids expired at `now`; how many (housekeeping). */
  purgeLogoutJtis(now: number): Promise<number>;
}
