/**
 * A store that keeps values sealed under the master key (secrets/envelope.ts). Master-key rotation
 * (`gatehouse secret rotate-master-key`) walks every Resealable and re-seals each value under the
 * first configured key. Gateways that run meanwhile hold every configured key, so a value sealed
 * under either opens: there is no moment at which one fails.
 */
export interface Resealable {
  /** Every sealed value held, with the aad it was sealed with. */
  listSealed(): Promise<SealedEntry[]>;
  /**
   * Compare-and-set: replaces the value only if it is still `sealed` (a concurrent `secret set` or
   * enrolment wins; the rotation then sees a value already sealed under the new key, or re-runs).
   */
  replaceSealed(id: string, sealed: string, next: string): Promise<boolean>;
}

export interface SealedEntry {
  /** The store's own key for the row (a secret name, a user name, a key id). */
  id: string;
  aad: string;
  sealed: string;
}
