import type { UserRecord } from '../accounts/user-store.js';

/** A session as the store keeps it: never the id itself, only its SHA-256 (`idHash`). */
export interface SessionRecord {
  /** SHA-256 hex of the cookie's opaque id: the primary key. */
  idHash: string;
  /** A short, random, non-secret handle shown in lists and used to revoke from the CLI. */
  handle: string;
  userName: string;
  createdAt: number;
  lastSeenAt: number;
  /** createdAt + absoluteTimeout, fixed at login. */
  expiresAt: number;
  ip: string;
  userAgent: string;
  /** The session may only change its password (SPEC §4.1). */
  passwordResetRequired: boolean;
  /** Password accepted, second factor still due (issue 4). */
  mfaPending: boolean;
  /** A second factor was completed in this session (issue 4). */
  mfaCompleted: boolean;
}

/** A deletion's entry in the revocation log. */
export interface Revoked {
  seq: number;
}

export type SessionPatch = Partial<Pick<SessionRecord, 'passwordResetRequired' | 'mfaPending' | 'mfaCompleted'>>;

/** The session store port, in the handful of domain verbs sessions need. */
export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  get(idHash: string): Promise<SessionRecord | null>;
  /**
   * The session and its user in one read (every proxied request needs both): `user` is null when
   * no user of that name exists any more. Null when there is no such session. The session is the
   * caller's to update; the user is read-only (an adapter may share it between calls).
   */
  getWithUser(idHash: string): Promise<{ session: SessionRecord; user: UserRecord | null } | null>;
  /** Records activity. Only ever moves lastSeenAt forward. */
  touch(idHash: string, lastSeenAt: number): Promise<void>;
  /** `touch` for many sessions at once, in one transaction. */
  touchAll(activity: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Atomically replaces a session's id (login completion, password change, MFA): the old id stops
   * working in the same step the new one starts, and that is a revocation of the old id (logged by
   * the session's handle, which the new id keeps). Null when the old one no longer exists — then
   * nothing was created, so two concurrent rotations cannot both succeed.
   */
  rotate(oldIdHash: string, newIdHash: string, patch: SessionPatch): Promise<Revoked | null>;
  /*
   * The deletions below are revocations: each appends its entry to the revocation log
   * (cluster/revocation-log.ts) in the same transaction, and answers with the entry's seq. The
   * `user` and `all` scopes are logged even when they delete nothing, so a revocation someone
   * asked for is always on record; `session` is logged only when a session went.
   */
  /** Deletes one session; returns what was deleted, or null. */
  delete(idHash: string): Promise<(Revoked & { session: SessionRecord }) | null>;
  /**
   * Deletes the session only if its last activity is before `idleBefore`, checked in the same
   * statement: activity another node wrote meanwhile saves it (SPEC §8, "Idle timeout across
   * nodes"). What was deleted, or null.
   */
  deleteIdle(idHash: string, idleBefore: number): Promise<(Revoked & { session: SessionRecord }) | null>;
  deleteByHandle(handle: string): Promise<(Revoked & { session: SessionRecord }) | null>;
  /** Deletes every session of a user, except `exceptIdHash` if given; `count` is how many. */
  deleteByUser(userName: string, exceptIdHash?: string): Promise<Revoked & { count: number }>;
  deleteAll(): Promise<Revoked & { count: number }>;
  /**
   * Appends a `user` entry to the revocation log and deletes nothing: every process forgets the
   * user's remembered sessions as for a revocation, and their next requests read the session and
   * the user from the store again. For a change to the user that must reach every process at once
   * (its roles, SPEC §9), not only within the memory's age bound.
   */
  logUserChange(userName: string): Promise<Revoked>;
  /** Newest first. */
  list(filter?: { userName?: string }): Promise<SessionRecord[]>;
  /**
   * Removes sessions idle since before `idleBefore` or past their absolute expiry at `now`. Not a
   * revocation (nothing is logged): every process applies the same times itself.
   */
  purgeExpired(now: number, idleBefore: number): Promise<number>;
  /** How many sessions `purgeExpired(now, idleBefore)` would keep: the active ones (SPEC §11 metrics). */
  countActive(now: number, idleBefore: number): Promise<number>;
}
