/**
 * The revocation log (SPEC §8 "Revocation stays immediate"): one row per revocation, appended by
 * the session store in the same transaction as the deletion it records (sessions/session-store.ts),
 * so a revocation is committed exactly when its entry is. Sequence numbers grow in commit order and
 * are never reused: a process that has read up to `seq` has seen every revocation up to it, and
 * catches up after missing messages by reading `since(seq)`. Subjects are a session's handle or a
 * user's name, never an id or its hash (cluster/node-messages.ts says why). A `user` entry may
 * also record a change to the user that deleted nothing (SessionStore.logUserChange: roles a
 * provider changed): readers treat both alike, forgetting what they remember of the user's sessions.
 */
export type RevocationScope = 'session' | 'user' | 'all';

export interface Revocation {
  seq: number;
  /** When it committed, by the database's clock (the one clock every node shares). */
  at: number;
  scope: RevocationScope;
  /** The session's handle (`session`), the user's name (`user`), or null (`all`). */
  subject: string | null;
}

export interface RevocationsSince {
  /** Entries after the given seq, oldest first, at most the limit asked for. */
  revocations: Revocation[];
  /**
   * False when entries after the given seq may have been purged: the reader cannot tell what it
   * missed and must forget everything it remembers about sessions.
   */
  complete: boolean;
}

/** The log's reading side; adapters pass storage/contract/revocation-log.contract.ts. */
export interface RevocationLog {
  since(seq: number, limit?: number): Promise<RevocationsSince>;
  /** The newest entry's seq; 0 when nothing was ever revoked. */
  latestSeq(): Promise<number>;
  /** Deletes entries committed before `before`, always keeping the newest; returns how many went. */
  purge(before: number): Promise<number>;
}

/** How long entries are kept: far beyond any catch-up (a node that fell further behind forgets its memory). */
export const revocationRetentionMs = 60 * 60 * 1000;

/** Entries read at most per `since` call. */
export const revocationPageSize = 1_000;
