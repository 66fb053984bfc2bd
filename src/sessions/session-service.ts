import type { UserRecord } from '../accounts/user-store.js';
import type { Announce } from '../cluster/announcer.js';
import type { RevocationScope } from '../cluster/revocation-log.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import { sha256Hex } from '../security/hash.js';
import { newHandle, newToken, type RandomBytes } from '../security/random.js';
import { StoreUnavailableError } from '../storage/store-unavailable-error.js';
import type { SessionMemory } from './session-memory.js';
import type { Revoked, SessionPatch, SessionRecord, SessionStore } from './session-store.js';
import { errorFields } from '../log/error-fields.js';

export interface SessionSettings {
  idleTimeout: number;
  absoluteTimeout: number;
}

export interface LiveSession {
  session: SessionRecord;
  user: UserRecord;
}

export interface IssuedSession {
  /** The opaque id that goes into the cookie and nowhere else. */
  token: string;
  session: SessionRecord;
}

/** 32 random bytes in base64url: anything else cannot be one of ours and is refused before a lookup. */
const tokenShape = /^[A-Za-z0-9_-]{43}$/;

/**
 * Recorded activity reaches the store in one transaction per this interval (write-behind): with
 * many sessions active, one write per request otherwise. This process reads its own pending
 * activity, so its idle checks are exact; other processes see it this much later (sessions they
 * list look idle that much longer). A crash loses at most this much activity, never a revocation.
 */
const activityFlushMs = 250;

/**
 * SPEC §8, "Idle timeout across nodes": a session is never ended for idleness early, whichever
 * node (or worker) served its last request. Activity written behind reaches the store up to
 * `activityFlushMs` plus a write later, so another node deciding from the store alone could end a
 * session whose last request is still on its way there. Hence: a request that comes when the
 * store's last activity for its session is within this margin of the idle deadline is written
 * through, and goes on only once the store holds it and the session is still there (a node that
 * deleted it at the deadline meanwhile wins: the request is refused, on time); every other request
 * leaves the session at least this margin from its deadline in the store, far longer than a batch
 * takes to land. A node that reads a session idle in the store therefore knows no node served it
 * since, and its delete re-checks that in the same statement (SessionStore.deleteIdle, as the purge
 * does). With the default 30-minute idle timeout, only the first request after 29 m 50 s of quiet
 * pays the write.
 */
export const writeThroughMarginMs = 10_000;

/** Sessions: create, validate, rotate, touch, revoke (lucia's auth_session shape; OWASP Session Management). */
export class SessionService {
  readonly #store: SessionStore;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #audit: AuditLog;
  readonly #settings: SessionSettings;
  readonly #logger: Logger;
  readonly #announce: Announce;
  readonly #memory: SessionMemory | null;
  readonly #confirm: (seq: number, announced: Promise<void>) => Promise<void>;
  /** Activity recorded but not yet written: id hash → lastSeenAt. */
  readonly #activity = new Map<string, number>();
  /** The lastSeenAt the store held when `validate` read each live session (before this process's pending activity). */
  readonly #stored = new WeakMap<SessionRecord, number>();
  #flushTimer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  /**
   * `memory`: this process's session memory (serving processes; the CLI has none). `confirm`:
   * resolves once every other live process has applied the revocation with that seq
   * (cluster/revocation-confirmations.ts), at most 2 s later.
   */
  constructor(deps: { store: SessionStore; logger: Logger; clock: Clock; random: RandomBytes; audit: AuditLog; settings: SessionSettings; announce?: Announce; memory?: SessionMemory | null; confirm?: (seq: number, announced: Promise<void>) => Promise<void> }) {
    this.#announce = deps.announce ?? (async () => undefined);
    this.#memory = deps.memory ?? null;
    this.#confirm = deps.confirm ?? (async () => undefined);
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#audit = deps.audit;
    this.#settings = deps.settings;
    this.#logger = deps.logger;
  }

  /** Issues a brand-new session; the id is never derived from anything the client sent. */
  async create(user: UserRecord, meta: { ip: string; userAgent: string }, flags: SessionPatch = {}): Promise<IssuedSession> {
    const now = this.#clock.now();
    const token = newToken(this.#random);
    const session: SessionRecord = {
      idHash: sha256Hex(token),
      handle: newHandle(this.#random),
      userName: user.name,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.#settings.absoluteTimeout,
      ip: meta.ip,
      userAgent: meta.userAgent.slice(0, 512),
      passwordResetRequired: flags.passwordResetRequired ?? false,
      mfaPending: flags.mfaPending ?? false,
      mfaCompleted: flags.mfaCompleted ?? false,
    };
    await this.#store.create(session);
    return { token, session };
  }

  /**
   * The session behind a cookie value, or null when it is malformed, unknown, revoked, idle too long
   * or past its absolute lifetime. A session this process remembers is answered from memory while
   * the memory is trusted (`#fromMemory`); otherwise, and whenever memory says it may be idle,
   * idleness is judged on the store's last activity (just read) and this process's pending activity. An expired session is deleted on
   * sight; an idle one only if the store still says so as it is deleted (`writeThroughMarginMs`).
   */
  async validate(token: string): Promise<LiveSession | null> {
    if (!tokenShape.test(token)) return null;
    const idHash = sha256Hex(token);
    const remembered = this.#fromMemory(idHash);
    if (remembered) return remembered;
    // Read before the store read: a revocation applied while it is in flight keeps the result out of memory.
    const epoch = this.#memory?.epoch ?? 0;
    let found: Awaited<ReturnType<SessionStore['getWithUser']>>;
    try {
      found = await this.#store.getWithUser(idHash);
    } catch (error) {
      // SPEC §8 "Failures", PostgreSQL down: a session this process knows keeps working, past the
      // memory's age bound (a backstop for changes that are not revocations, which cannot commit
      // while the store is down here), as long as the memory is trusted.
      const held = error instanceof StoreUnavailableError ? this.#fromMemory(idHash, true) : null;
      if (held) return held;
      throw error;
    }
    if (!found) return null;
    const { session, user } = found;
    const stored = session.lastSeenAt;
    this.#stored.set(session, stored);
    const pending = this.#activity.get(session.idHash);
    if (pending !== undefined && pending > session.lastSeenAt) session.lastSeenAt = pending;
    const now = this.#clock.now();
    // An expired session is deleted and announced, but the request does not wait for confirmations:
    // every process judges expiry by time on its own (its memory never holds later activity than the
    // store near the idle deadline, `writeThroughMarginMs`), so none can still answer for it.
    if (now >= session.expiresAt) {
      await this.#announceDeleted(await this.#store.delete(session.idHash), { wait: false });
      return null;
    }
    if (now >= this.idleExpiresAt(session)) {
      // Idle when lastSeenAt + idleTimeout <= now, i.e. lastSeenAt < now - idleTimeout + 1 (whole ms).
      await this.#announceDeleted(await this.#store.deleteIdle(session.idHash, now - this.#settings.idleTimeout + 1), { wait: false });
      return null;
    }
    if (!user || user.locked) {
      await this.#delete(session.idHash);
      return null;
    }
    this.#memory?.remember({ session, user, stored }, epoch);
    return { session, user };
  }

  /**
   * `validate`'s answer without a promise when this process's memory holds the session (the common
   * case of a proxied request: no store round trip, and now no microtask either), or when the value
   * cannot be one of ours; undefined when only `validate` can answer.
   */
  validateNow(token: string): LiveSession | null | undefined {
    if (!tokenShape.test(token)) return null;
    return this.#fromMemory(sha256Hex(token)) ?? undefined;
  }

  /**
   * SPEC §8 "Speed": the session from this process's memory, with no store round trip, while the
   * memory is trusted (caught up with the revocation log). A copy, with this process's pending
   * activity. Null when there is none, or when the session looks expired or idle by what this
   * process knows: another node may have served it since, so only the store decides (above).
   */
  #fromMemory(idHash: string, anyAge = false): LiveSession | null {
    const memory = this.#memory;
    if (!memory?.trusted) return null;
    const hit = memory.get(idHash, { anyAge });
    if (!hit) return null;
    const session = { ...hit.session };
    const pending = this.#activity.get(idHash);
    if (pending !== undefined && pending > session.lastSeenAt) session.lastSeenAt = pending;
    if (this.isExpired(session)) return null;
    this.#stored.set(session, hit.stored);
    return { session, user: hit.user };
  }

  isExpired(session: SessionRecord): boolean {
    const now = this.#clock.now();
    return now >= session.expiresAt || now >= this.idleExpiresAt(session);
  }

  idleExpiresAt(session: SessionRecord): number {
    return Math.min(session.lastSeenAt + this.#settings.idleTimeout, session.expiresAt);
  }

  /**
   * Records a request's activity (the idle timeout restarts from it): written to the store with the
   * other sessions' activity within `activityFlushMs`, or at once, before this resolves, when the
   * store's last activity is within `writeThroughMarginMs` of the idle deadline: then it returns
   * the write, which the request must wait for, resolving to whether the session is still there
   * (false: another node ended it, or it was revoked, meanwhile: refuse the request); else null
   * (nothing to wait for, no promise made on the hot path).
   */
  touch(session: SessionRecord): Promise<boolean> | null {
    const now = this.#clock.now();
    if (now <= session.lastSeenAt) return null;
    session.lastSeenAt = now;
    this.#memory?.noteActivity(session.idHash, now);
    const stored = this.#stored.get(session) ?? Number.NEGATIVE_INFINITY;
    if (stored + this.#settings.idleTimeout - now < writeThroughMarginMs) return this.#writeThrough(session, now);
    if ((this.#activity.get(session.idHash) ?? Number.NEGATIVE_INFINITY) < now) this.#activity.set(session.idHash, now);
    this.#flushTimer ??= setTimeout(() => this.#flushInBackground(), activityFlushMs).unref();
    return null;
  }

  /**
   * Writes the activity, then reads the session back: a delete that committed before the write
   * (deleteIdle at the deadline, a revocation) shows as its absence; one that comes after it sees
   * the new time and, if for idleness, deletes nothing.
   */
  async #writeThrough(session: SessionRecord, now: number): Promise<boolean> {
    await this.#store.touch(session.idHash, now);
    if (!(await this.#store.get(session.idHash))) return false;
    this.#stored.set(session, now);
    this.#memory?.noteActivity(session.idHash, now, now);
    return true;
  }

  #flushInBackground(): void {
    this.flushActivity().catch((error: unknown) => {
      this.#logger.error({ err: errorFields(error) }, 'could not record session activity; retrying');
    });
  }

  /** Writes the pending activity now (also run on a timer, before purging, and at shutdown). */
  flushActivity(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#activity.size === 0) return this.#flushing;
    const batch = new Map(this.#activity);
    this.#activity.clear();
    // Chained, so two flushes never write out of order. A failed batch is put back (the newer of
    // pending and failed time wins) and retried on the next interval.
    const write = this.#flushing.catch(() => undefined).then(() => this.#store.touchAll(batch));
    this.#flushing = write.catch((error: unknown) => {
      for (const [idHash, at] of batch) if ((this.#activity.get(idHash) ?? 0) < at) this.#activity.set(idHash, at);
      this.#flushTimer ??= setTimeout(() => this.#flushInBackground(), activityFlushMs).unref();
      throw error;
    });
    return this.#flushing;
  }

  /** Moves a session to a fresh id (privilege change); null when it was revoked meanwhile. */
  async rotate(session: SessionRecord, patch: SessionPatch = {}): Promise<IssuedSession | null> {
    const token = newToken(this.#random);
    const idHash = sha256Hex(token);
    const rotated = await this.#store.rotate(session.idHash, idHash, patch);
    if (!rotated) return null;
    // The old id is revoked: a process that remembers it must let go (by handle, which both share).
    await this.#announced('session', session.handle, rotated.seq);
    return { token, session: { ...session, ...patch, idHash } };
  }

  /** Logout: the session is deleted server-side, so a copied cookie is worthless from now on. */
  async end(session: SessionRecord, context: AuditContext): Promise<void> {
    const deleted = await this.#delete(session.idHash);
    if (deleted) await this.#audit.record('logout', { user: deleted.userName, ...withoutUser(context) }, { session: deleted.handle });
  }

  async revoke(session: SessionRecord, context: AuditContext, reason: string): Promise<boolean> {
    const deleted = await this.#delete(session.idHash);
    if (deleted) await this.#audit.record('session_revoked', { user: deleted.userName, ...withoutUser(context) }, { session: deleted.handle, reason, by: context.user ?? null });
    return deleted !== null;
  }

  async revokeByHandle(handle: string, context: AuditContext, reason: string): Promise<SessionRecord | null> {
    const deleted = await this.#store.deleteByHandle(handle);
    if (!deleted) return null;
    await this.#announced('session', deleted.session.handle, deleted.seq);
    await this.#audit.record('session_revoked', { user: deleted.session.userName, ...withoutUser(context) }, { session: deleted.session.handle, reason, by: context.user ?? null });
    return deleted.session;
  }

  /** Every session of a user (but `except`), e.g. on password change, lock or removal. */
  async revokeUser(userName: string, context: AuditContext, reason: string, except?: SessionRecord): Promise<number> {
    const { count, seq } = await this.#store.deleteByUser(userName, except?.idHash);
    await this.#announced('user', userName, seq);
    if (count > 0) await this.#audit.record('session_revoked', { user: userName, ...withoutUser(context) }, { count, reason, by: context.user ?? null });
    return count;
  }

  async revokeAll(context: AuditContext, reason: string): Promise<number> {
    const { count, seq } = await this.#store.deleteAll();
    await this.#announced('all', null, seq);
    if (count > 0) await this.#audit.record('session_revoked', { user: null, ...withoutUser(context) }, { count, reason, by: context.user ?? null });
    return count;
  }

  /**
   * The user changed in a way its remembered sessions must not hide (roles recomputed from a
   * provider's claims, SPEC §9): every process forgets them through the revocation path
   * (`#announced`), without ending any, and this returns once every other live process has
   * confirmed. Their next request reads the user from the store, wherever it arrives.
   */
  async userChanged(userName: string): Promise<void> {
    const { seq } = await this.#store.logUserChange(userName);
    await this.#announced('user', userName, seq);
  }

  async #delete(idHash: string): Promise<SessionRecord | null> {
    return this.#announceDeleted(await this.#store.delete(idHash));
  }

  async #announceDeleted(deleted: (Revoked & { session: SessionRecord }) | null, options: { wait: boolean } = { wait: true }): Promise<SessionRecord | null> {
    if (!deleted) return null;
    await this.#announced('session', deleted.session.handle, deleted.seq, options);
    return deleted.session;
  }

  /**
   * Every revocation passes here once the store has committed it with its log entry: this
   * process's memory forgets it, it is announced to the other processes, and it returns only once
   * every other live process has confirmed it, or after 2 s (SPEC §8 "Revocation stays
   * immediate"). A failed announcement is logged, never thrown: the revocation stands in the store
   * and its log, where every process reads it. `wait: false` (expiry, which every process judges by
   * time itself) announces without waiting for the confirmations.
   */
  async #announced(scope: RevocationScope, subject: string | null, seq: number, options: { wait: boolean } = { wait: true }): Promise<void> {
    this.#memory?.forget(scope, subject);
    // Registered before the announcement goes out, so an immediate confirmation is not missed; told
    // when it has gone out, since some of what it waits on must be read after that.
    let sent!: () => void;
    const announced = new Promise<void>((resolve) => (sent = resolve));
    const confirmed = options.wait ? this.#confirm(seq, announced) : null;
    await this.#announce(scope === 'all' ? { type: 'revoked', seq, scope } : { type: 'revoked', seq, scope, subject: subject! });
    sent();
    await confirmed;
  }

  /** Live sessions, newest first. */
  async list(filter: { userName?: string } = {}): Promise<SessionRecord[]> {
    return (await this.#store.list(filter)).filter((s) => !this.isExpired(s));
  }

  /**
   * Deletes expired sessions; run periodically so the table does not grow without bound. As careful
   * as `validate`: this process's activity is written first, the delete re-checks each session's
   * time in its own statement, and a request validated just before loses to it (`#writeThrough`).
   */
  async purgeExpired(): Promise<number> {
    await this.flushActivity();
    const now = this.#clock.now();
    return this.#store.purgeExpired(now, now - this.#settings.idleTimeout + 1);
  }

  /** Sessions neither idle nor past their absolute lifetime, by the store's activity (SPEC §11 metrics). */
  countActive(): Promise<number> {
    const now = this.#clock.now();
    return this.#store.countActive(now, now - this.#settings.idleTimeout + 1);
  }
}

function withoutUser(context: AuditContext): AuditContext {
  return { ip: context.ip ?? null, requestId: context.requestId ?? null };
}
