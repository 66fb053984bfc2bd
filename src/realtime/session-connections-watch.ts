import type { RevocationScope } from '../cluster/revocation-log.js';
import { errorFields } from '../log/error-fields.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import type { SessionMemory } from '../sessions/session-memory.js';
import type { SessionService } from '../sessions/session-service.js';
import type { OpenConnections } from './open-connections.js';

/** SPEC §10: the WebSocket close code of a connection whose session was revoked or expired. */
export const sessionEndedCode = 4401;

/** How often the open connections' expiry deadlines are compared with the clock (SPEC §10: closed within 1 s). */
export const watchIntervalMs = 250;

interface Deadlines {
  /** When the session goes idle by the store's last activity (SessionService.idleExpiresAt). */
  idleAt: number;
  expiresAt: number;
}

/**
 * Closes (code 4401) the open WebSockets and event streams of sessions that end (SPEC §10, within
 * 1 s; decision 0014):
 *
 * - Revoked: every revocation this process makes or hears of passes through the session memory's
 *   `forget` (decision 0008: SessionService, RevocationFollower on every worker and node, its log
 *   read on SQLite). Each one re-reads, at once, the sessions of the users it names that have open
 *   connections; a connection whose session is gone is closed. A forget that ends nothing (a
 *   rotation keeps the handle, a role change deletes nothing, a password change keeps the current
 *   session) closes nothing. If the re-read fails, the named connections are closed anyway.
 * - Expired: every `watchIntervalMs` each connection's deadlines, learned from the store, are
 *   compared with the injected clock; one past its absolute or idle deadline has its user's
 *   sessions re-read (activity on another node may have moved the idle deadline: the store has it
 *   near the deadline, SessionService's `writeThroughMarginMs`), and is closed if its session is no
 *   longer live. So the store is read when a connection opens (at once: its first look, which its
 *   relay awaits before the first byte, catches a revocation that came during the handshake), at
 *   its deadlines, and on revocations.
 */
export class SessionConnectionsWatch {
  readonly #connections: OpenConnections;
  readonly #sessions: Pick<SessionService, 'list' | 'idleExpiresAt'>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #known = new Map<string, Deadlines>();
  #timer: NodeJS.Timeout | null = null;
  #checking: Promise<void> | null = null;
  #awaitingCheck: (() => void)[] = [];

  constructor(deps: { connections: OpenConnections; sessions: Pick<SessionService, 'list' | 'idleExpiresAt'>; memory: SessionMemory; clock: Clock; logger: Logger }) {
    this.#connections = deps.connections;
    this.#sessions = deps.sessions;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    deps.memory.onForget((scope, subject) => this.#revoked(scope, subject));
    deps.connections.onAdded((user, handle) => this.#recheck(user, new Set([handle])).catch((error: unknown) => {
      // Left unknown: the next tick reads it again; a revocation meanwhile still closes it.
      this.#logger.warn({ err: errorFields(error) }, 'could not read the session of a new open connection; retrying');
    }));
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // Ticks never overlap: a slow store delays the next one rather than piling reads up.
      if (this.#checking) return;
      const waiting = this.#awaitingCheck.splice(0);
      this.#checking = this.#expire().finally(() => {
        this.#checking = null;
        for (const resolve of waiting) resolve();
      });
    }, watchIntervalMs);
    this.#timer.unref();
  }

  /**
   * Resolves once a whole check has begun and ended after this call, so it saw the connections open
   * now and the clock as it is now: tests wait on it rather than sleep (a started watch only).
   */
  checked(): Promise<void> {
    return new Promise((resolve) => this.#awaitingCheck.push(resolve));
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#checking;
    for (const resolve of this.#awaitingCheck.splice(0)) resolve();
  }

  #revoked(scope: RevocationScope, subject: string | null): void {
    const byUser = this.#connections.handlesByUser();
    const named = new Map<string, Set<string>>();
    for (const [user, handles] of byUser) {
      if (scope === 'all' || (scope === 'user' && user === subject)) named.set(user, handles);
      else if (scope === 'session' && handles.has(subject!)) named.set(user, new Set([subject!]));
    }
    for (const [user, handles] of named) {
      this.#recheck(user, handles).catch((error: unknown) => {
        // Fail closed: the session may be revoked and we cannot tell.
        this.#logger.warn({ err: errorFields(error) }, 'could not re-read the sessions a revocation names; closing their open connections');
        for (const handle of handles) this.#connections.closeSession(handle, sessionEndedCode, 'session revoked');
      });
    }
  }

  async #expire(): Promise<void> {
    const now = this.#clock.now();
    const byUser = this.#connections.handlesByUser();
    const open = new Set<string>();
    const due: Array<[string, Set<string>]> = [];
    for (const [user, handles] of byUser) {
      for (const handle of handles) open.add(handle);
      const anyDue = [...handles].some((handle) => {
        const known = this.#known.get(handle);
        return !known || now >= known.idleAt || now >= known.expiresAt;
      });
      if (anyDue) due.push([user, handles]);
    }
    for (const handle of this.#known.keys()) if (!open.has(handle)) this.#known.delete(handle);
    await Promise.all(due.map(([user, handles]) => this.#recheck(user, handles).catch((error: unknown) => {
      // Retried on the next tick; a revocation meanwhile still closes them (`#revoked`).
      this.#logger.warn({ err: errorFields(error) }, 'could not re-read the sessions of open connections; retrying');
    })));
  }

  /** Reads the user's live sessions from the store; closes the connections among `handles` whose session is not. */
  async #recheck(user: string, handles: ReadonlySet<string>): Promise<void> {
    const live = new Map((await this.#sessions.list({ userName: user })).map((session) => [session.handle, session]));
    for (const handle of handles) {
      const session = live.get(handle);
      if (session) {
        this.#known.set(handle, { idleAt: this.#sessions.idleExpiresAt(session), expiresAt: session.expiresAt });
        continue;
      }
      this.#known.delete(handle);
      this.#connections.closeSession(handle, sessionEndedCode, 'session ended');
    }
  }
}
