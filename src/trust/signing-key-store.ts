import type { Resealable } from '../secrets/resealable.js';

/**
 * One of Gatehouse's own signing keys (SPEC §7). Exactly one key is active (signs assertions); a
 * retired key signs nothing and stays published in the JWKS until `publishedUntil`, then is purged.
 */
export interface SigningKeyRecord {
  /** The JWK thumbprint of the public key (RFC 7638), base64url: unique, and checkable by anyone. */
  kid: string;
  /**
   * The private JWK as JSON (it holds the public `x` too), sealed under the master key with aad
   * `signingKeyAad(kid)`. The public key is deliberately not stored apart: the JWKS is derived from
   * this authenticated value, so a row written into the database without the master key can never
   * get a key published.
   */
  sealedPrivateKey: string;
  createdAt: number;
  /** Null while active; when a rotation replaced it. */
  retiredAt: number | null;
  /** Null while active; the end of its grace period, after which verifiers no longer see it. */
  publishedUntil: number | null;
}

/** A key about to be stored: always active. */
export type NewSigningKey = Pick<SigningKeyRecord, 'kid' | 'sealedPrivateKey' | 'createdAt'>;

/** What a signing key's private half is bound to when sealed: it opens only as that key. */
export function signingKeyAad(kid: string): string {
  return `signing-key:${kid}`;
}

/**
 * The signing key store port. Every verb that decides which key is active is atomic, so several
 * gateway processes and the CLI can share one backend: at every moment at most one key is active.
 * It is also Resealable (master-key rotation re-seals each private key; the entry id is the kid).
 */
export interface SigningKeyStore extends Resealable {
  /**
   * Stores `key` as the active key only if no key is active (the first start). Of several callers
   * racing, across processes, exactly one gets true; the others then read the winner's key.
   */
  addFirst(key: NewSigningKey): Promise<boolean>;
  /**
   * In one step: retires every active key (retiredAt = key.createdAt, publishedUntil as given) and
   * stores `key` as the active one. Returns the kids it retired (none on a store without a key).
   * Two concurrent rotations leave one active key, the other new key retired by the later one.
   */
  rotate(key: NewSigningKey, publishedUntil: number): Promise<string[]>;
  /** Every key: the active one first, then the retired ones, most recently retired first. */
  list(): Promise<SigningKeyRecord[]>;
  /** Deletes the retired keys whose `publishedUntil` is at or before `now`; never the active one. Returns how many. */
  purge(now: number): Promise<number>;
}
