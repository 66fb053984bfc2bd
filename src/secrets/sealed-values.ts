/**
 * What each sealed value is bound to (its aad, secrets/envelope.ts): one place, because the service
 * that seals a value and the store that lists it for master-key rotation must agree to the byte.
 * A value copied to another row or purpose then fails authentication instead of opening.
 */

/** A stored upstream secret (`gatehouse secret set NAME`). */
export function secretAad(name: string): string {
  return `secret:${name}`;
}

/** A user's TOTP secret. mfa/totp-service.ts seals with this same form. */
export function totpAad(userName: string): string {
  return `totp:${userName}`;
}

/** A value in the meta store. */
export function metaAad(key: string): string {
  return `meta:${key}`;
}

/** The meta key of the master-key check value (SecretService.verifyMasterKey). */
export const masterKeyCheckKey = 'master-key-check';

/** Meta keys whose values are sealed; every other meta value is plain. */
export const sealedMetaKeys: readonly string[] = [masterKeyCheckKey];

/** An OIDC login's nonce and PKCE verifier, bound to the login's state hash. */
export function oidcLoginAad(stateHash: string): string {
  return `oidc-login:${stateHash}`;
}

/** An OIDC session's tokens, bound to the session's handle. */
export function oidcTokensAad(handle: string): string {
  return `oidc-tokens:${handle}`;
}
