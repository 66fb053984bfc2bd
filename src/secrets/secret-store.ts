import type { Resealable } from './resealable.js';

/** A stored secret: only ever its sealed (encrypted) form, see secrets/envelope.ts. */
export interface SecretRecord {
  name: string;
  /** The envelope string produced by `seal`; carries the id of the key that sealed it. */
  sealed: string;
  updatedAt: number;
}

/**
 * The secret store port. As a Resealable it lists every secret with aad `secret:<name>`
 * (sealed-values.ts) and re-seals one without touching its update time: the value is unchanged.
 */
export interface SecretStore extends Resealable {
  /** Inserts or replaces. */
  put(record: SecretRecord): Promise<void>;
  get(name: string): Promise<SecretRecord | null>;
  /** Name order. */
  list(): Promise<SecretRecord[]>;
  remove(name: string): Promise<boolean>;
}
