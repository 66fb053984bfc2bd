import type { UserRecord } from '../accounts/user-store.js';
import type { RevocationScope } from '../cluster/revocation-log.js';
import type { Clock } from '../security/clock.js';
import type { HeldOidc } from '../oidc/user-tokens.js';
import type { SessionRecord } from './session-store.js';

/** What a store read found valid, kept so the next request with that cookie needs no read. */
export interface RememberedSession {
  session: SessionRecord;
  user: UserRecord;
  /** The lastSeenAt the store held when it was read (SessionService's write-through margin needs it). */
  stored: number;
}

interface Entry extends RememberedSession {
  /** When it was read from the store, by the service's clock. */
  readAt: number;
}

export interface SessionMemorySettings {
  /** How many sessions at most; the least recently used goes first. */
  maxEntries: number;
  /** An entry older than this is read from the store again (a backstop: revocations do not wait for it). */
  maxAgeMs: number;
}

export const defaultSessionMemorySettings: SessionMemorySettings = { maxEntries: 10_000, maxAgeMs: 30_000 };

/**
 * The sessions this process has lately found valid in the store (SPEC §8 "Speed"): a proxied
 * request with a known session is answered from here, with no store round trip. Only a store read
 * admits an entry, so an unknown or random cookie value never enters and cannot evict the sessions
 * in use (each costs its one lookup). Entries are keyed by the id's hash, as the store is, and also
 * indexed by handle and user, the subjects revocations name (cluster/node-messages.ts).
 *
 * Correctness does not rest on the age bound but on `forget`: every revocation this process makes
 * or hears of passes through it (SessionService, RevocationFollower), and the memory is only
 * consulted while `trusted` says the process is caught up with the revocation log.
 */
export class SessionMemory {
  readonly #settings: SessionMemorySettings;
  readonly #clock: Clock;
  /** Map order is recency: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  /** A set per handle: a rotation's new id shares the handle, and one process may hold both ids at once. */
  readonly #byHandle = new Map<string, Set<string>>();
  readonly #byUser = new Map<string, Set<string>>();
  /**
   * A remembered session's OIDC record and opened tokens (null: it logged in locally), by handle:
   * held only while an entry of that handle is, so every path that drops the session drops them
   * (`#remove`, `#clearEntries`), and a re-read of the session after `maxAgeMs` reads them again.
   */
  readonly #oidc = new Map<string, HeldOidc | null>();
  #epoch = 0;
  #trusted: () => boolean = () => false;
  readonly #forgetListeners: Array<(scope: RevocationScope, subject: string | null) => void> = [];

  constructor(deps: { clock: Clock; settings?: Partial<SessionMemorySettings> }) {
    this.#clock = deps.clock;
    this.#settings = { ...defaultSessionMemorySettings, ...deps.settings };
  }

  /** Whether answers may come from here now (false until a follower says so: RevocationFollower.trusted). */
  get trusted(): boolean {
    return this.#trusted();
  }

  /** Binds the condition under which the memory may answer (the revocation follower's). */
  trustWhen(predicate: () => boolean): void {
    this.#trusted = predicate;
  }

  /**
   * Counts forgets. A caller reads it before its store read and hands it to `remember`: a
   * revocation applied while the read was in flight then keeps the (possibly revoked) result out.
   */
  get epoch(): number {
    return this.#epoch;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The remembered session, or null when there is none or it is too old to answer from. `anyAge`:
   * whatever its age — for when the store cannot be read (SPEC §8 "Failures": sessions known to the
   * node keep working while PostgreSQL is down), so a too old entry stays until it is read again,
   * forgotten or evicted.
   */
  get(idHash: string, options: { anyAge?: boolean } = {}): RememberedSession | null {
    const entry = this.#entries.get(idHash);
    if (!entry) return null;
    if (!options.anyAge && this.#clock.now() - entry.readAt >= this.#settings.maxAgeMs) return null;
    this.#entries.delete(idHash);
    this.#entries.set(idHash, entry);
    return entry;
  }

  /** Admits what a store read found valid, unless anything was forgotten since `epoch` was read. */
  remember(found: RememberedSession, epoch: number): void {
    if (epoch !== this.#epoch) return;
    const { idHash, handle, userName } = found.session;
    this.#remove(idHash);
    this.#entries.set(idHash, { ...found, session: { ...found.session }, readAt: this.#clock.now() });
    index(this.#byHandle, handle, idHash);
    index(this.#byUser, userName, idHash);
    while (this.#entries.size > this.#settings.maxEntries) this.#remove(this.#entries.keys().next().value!);
  }

  /** This process served the session at `at` (and, when written through, the store holds `stored`). */
  noteActivity(idHash: string, at: number, stored?: number): void {
    const entry = this.#entries.get(idHash);
    if (!entry) return;
    if (at > entry.session.lastSeenAt) entry.session.lastSeenAt = at;
    if (stored !== undefined && stored > entry.stored) entry.stored = stored;
  }

  /**
   * What `rememberOidc` holds for the session `handle` (null: none, a local login), or undefined
   * when nothing is held: then only the store can say. Answers only while an entry of that handle
   * is remembered, and is consulted only for a session this memory just answered for.
   */
  oidcOf(handle: string): HeldOidc | null | undefined {
    return this.#oidc.get(handle);
  }

  /**
   * Holds what the store said of a remembered session's OIDC record: after reading it, and after a
   * refresh stored new tokens (the one way it changes). Like `remember`, refused when anything was
   * forgotten since `epoch` was read, and when no entry of that handle is held (it was dropped, or
   * never admitted: then there is nothing it could be dropped with).
   */
  rememberOidc(handle: string, held: HeldOidc | null, epoch: number): void {
    if (epoch !== this.#epoch || !this.#byHandle.has(handle)) return;
    this.#oidc.set(handle, held);
  }

  /**
   * Also tells `listener` of every forget and clear: what else this process keeps per session (the
   * exchanged tokens, oidc/token-exchanger.ts) then follows the same revocations.
   */
  onForget(listener: (scope: RevocationScope, subject: string | null) => void): void {
    this.#forgetListeners.push(listener);
  }

  /** Drops what a revocation names: one session by handle, every session of a user, or all. */
  forget(scope: RevocationScope, subject: string | null): void {
    this.#epoch += 1;
    for (const listener of this.#forgetListeners) listener(scope, subject);
    if (scope === 'all') {
      this.#clearEntries();
      return;
    }
    const index = scope === 'session' ? this.#byHandle : this.#byUser;
    for (const idHash of [...(index.get(subject!) ?? [])]) this.#remove(idHash);
  }

  /** Forgets everything (a gap in the revocation log this process cannot fill). */
  clear(): void {
    this.#epoch += 1;
    for (const listener of this.#forgetListeners) listener('all', null);
    this.#clearEntries();
  }

  #clearEntries(): void {
    this.#entries.clear();
    this.#byHandle.clear();
    this.#byUser.clear();
    this.#oidc.clear();
  }

  #remove(idHash: string): void {
    const entry = this.#entries.get(idHash);
    if (!entry) return;
    this.#entries.delete(idHash);
    unindex(this.#byHandle, entry.session.handle, idHash);
    unindex(this.#byUser, entry.session.userName, idHash);
    if (!this.#byHandle.has(entry.session.handle)) this.#oidc.delete(entry.session.handle);
  }
}

function index(map: Map<string, Set<string>>, key: string, idHash: string): void {
  let ids = map.get(key);
  if (!ids) map.set(key, (ids = new Set()));
  ids.add(idHash);
}

function unindex(map: Map<string, Set<string>>, key: string, idHash: string): void {
  const ids = map.get(key);
  ids?.delete(idHash);
  if (ids?.size === 0) map.delete(key);
}
