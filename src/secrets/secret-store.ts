/** A stored secret: only ever its sealed (encrypted) form, see secrets/envelope.ts. */
export interface SecretRecord {
  name: string;
  /** The envelope string produced by `seal`; carries the id of the key that sealed it. */
  sealed: string;
  updatedAt: number;
}

/** The secret store port. */
export interface SecretStore {
  /** Inserts or replaces. */
  put(record: SecretRecord): Promise<void>;
  get(name: string): Promise<SecretRecord | null>;
  /** Name order. */
  list(): Promise<SecretRecord[]>;
  remove(name: string): Promise<boolean>;
}
