/** A user as the store keeps it. Times are milliseconds since the epoch. */
export interface UserRecord {
  name: string;
  roles: string[];
  /** argon2id PHC string. */
  passwordHash: string;
  locked: boolean;
  passwordResetRequired: boolean;
  /** Whether a second factor is enrolled (issue 4 fills this in). */
  mfaEnabled: boolean;
  createdAt: number;
  lastLoginAt: number | null;
}

export type UserPatch = Partial<Pick<UserRecord, 'roles' | 'passwordHash' | 'locked' | 'passwordResetRequired' | 'mfaEnabled' | 'lastLoginAt'>>;

/** The user store port. Every adapter passes storage/contract/user-store.contract.ts. */
export interface UserStore {
  /** Creates the user atomically; false (and nothing changed) when the name is taken. */
  create(user: UserRecord): Promise<boolean>;
  get(name: string): Promise<UserRecord | null>;
  /** Name order. */
  list(): Promise<UserRecord[]>;
  /** Applies the patch; false when there is no such user. */
  update(name: string, patch: UserPatch): Promise<boolean>;
  /** Deletes the user; false when there was none. Sessions are removed by the caller's service. */
  remove(name: string): Promise<boolean>;
}
