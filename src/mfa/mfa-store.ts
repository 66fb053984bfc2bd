import type { Resealable } from '../secrets/resealable.js';

/**
 * What the second factors keep (SPEC §4.5). Secrets are stored sealed (secrets/envelope.ts), recovery
 * codes only as hashes, passkeys only as public keys. Every consume-once operation is atomic.
 */

export interface TotpRecord {
  userName: string;
  /** The TOTP secret, sealed under the master key with aad `totp:<userName>`. */
  sealedSecret: string;
  /** Null while the enrolment is pending (set up but not confirmed with a code). */
  confirmedAt: number | null;
  createdAt: number;
}

export interface PasskeyRecord {
  /** The credential id, base64url: the id in /auth/passkeys/{id}. */
  id: string;
  userName: string;
  name: string;
  /** COSE public key. */
  publicKey: Buffer;
  /** The authenticator's signature counter (WebAuthn §6.1.1); 0 when it keeps none. */
  counter: number;
  transports: string[];
  createdAt: number;
  lastUsedAt: number | null;
}

export type ChallengePurpose = 'register' | 'login';

export interface ChallengeRecord {
  challenge: string;
  purpose: ChallengePurpose;
  /** Who it was issued to: the registering user, or for login the name asked for (may be null). */
  userName: string | null;
  expiresAt: number;
}

/** Resealable: TOTP secrets are re-sealed by master-key rotation (secrets/master-key-rotation.ts). */
export interface MfaStore extends Resealable {
  /** Stores a pending (unconfirmed) TOTP enrolment, replacing any earlier pending one. False if a confirmed one exists. */
  putPendingTotp(record: TotpRecord): Promise<boolean>;
  getTotp(userName: string): Promise<TotpRecord | null>;
  /** Confirms the pending enrolment; false when there is none. */
  /**
   * With `sealedSecret`, only if the pending enrolment still holds that secret: a setup run again
   * meanwhile (another tab) must not get confirmed by a code for the earlier secret.
   */
  confirmTotp(userName: string, at: number, sealedSecret?: string): Promise<boolean>;
  /**
   * Records that the code of time step `step` was used. Atomic: true only if no code of this or a
   * later step was accepted before (RFC 6238 §5.2: a code must not be accepted twice).
   */
  useTotpStep(userName: string, step: number): Promise<boolean>;
  removeTotp(userName: string): Promise<boolean>;

  /** Replaces the user's recovery codes with these hashes (all unused). */
  replaceRecoveryCodes(userName: string, codeHashes: string[]): Promise<void>;
  /** Marks one unused code as used; true exactly once per code, whatever the concurrency. */
  consumeRecoveryCode(userName: string, codeHash: string, at: number): Promise<boolean>;
  countRecoveryCodes(userName: string): Promise<number>;

  /**
   * Stores a new passkey unless its user already has `limit`: false then, and nothing is stored.
   * Atomic: the count and the insert are one step, so registrations racing for the last slot (in
   * any process) never take a user past `limit`. A credential id already registered, to anyone,
   * throws (WebAuthn §7.1).
   */
  addPasskey(record: PasskeyRecord, limit: number): Promise<boolean>;
  getPasskey(id: string): Promise<PasskeyRecord | null>;
  listPasskeys(userName: string): Promise<PasskeyRecord[]>;
  /**
   * Records a successful assertion. Atomic compare-and-set on the counter: false when the stored
   * counter is no longer `expectedCounter` (a concurrent or cloned-authenticator use).
   */
  recordPasskeyUse(id: string, expectedCounter: number, newCounter: number, at: number): Promise<boolean>;
  removePasskey(userName: string, id: string): Promise<boolean>;

  /** Stores a WebAuthn challenge for single use. */
  putChallenge(record: ChallengeRecord): Promise<void>;
  /** Deletes and returns the challenge if it exists and has not expired at `now`: usable once. */
  takeChallenge(challenge: string, now: number): Promise<ChallengeRecord | null>;
  /**
   * Deletes every challenge expired at `now`, and returns how many (housekeeping). Ceremonies begun
   * and never finished leave their challenge behind, and login options are public: without this
   * the table grows with every request for them.
   */
  purgeChallenges(now: number): Promise<number>;

  /** Removes TOTP, recovery codes and passkeys of a user (mfa-reset, user removal). */
  removeAll(userName: string): Promise<void>;
}
