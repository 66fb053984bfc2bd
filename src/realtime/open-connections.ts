/** The handle under which connections on public routes (no session) are registered. */
const publicHandle = '';

/** One open WebSocket or event stream, as the bookkeeping sees it. */
export interface OpenConnection {
  /** The session's handle (SPEC §4.5: non-secret); '' for a connection on a public route. */
  readonly handle: string;
  /** The user's name; '' for a connection on a public route. */
  readonly user: string;
  /** An event stream is an HTTP response still in flight; a socket has left the HTTP server. */
  readonly kind?: 'socket' | 'stream';
  /** Ends the connection (a WebSocket close code, e.g. 4401 when its session ended, SPEC §10). */
  close(code: number, reason: string): void;
}

/**
 * The open long-lived connections of this process, by session handle and by user, so that what
 * ends a session (or all of a user's sessions, or the process) can end its sockets and streams too
 * (SPEC §10). Counts are this process's only: the per-session WebSocket limit, which holds across
 * workers and nodes, is counted in the store (connection-slots.ts).
 */
export class OpenConnections {
  readonly #byHandle = new Map<string, Set<OpenConnection>>();
  readonly #byUser = new Map<string, Set<OpenConnection>>();
  #look: ((user: string, handle: string) => Promise<void>) | null = null;
  /** The latest first look per handle of a session with open connections. */
  readonly #looks = new Map<string, Promise<void>>();

  /**
   * What reads a new connection's session at once (SessionConnectionsWatch): a revocation that
   * came between the handshake's session check and `add` was missed by the forget path.
   */
  onAdded(look: (user: string, handle: string) => Promise<void>): void {
    this.#look = look;
  }

  /** Registers an open socket/stream; returns the function that unregisters it. */
  add(entry: OpenConnection): () => void {
    insert(this.#byHandle, entry.handle, entry);
    insert(this.#byUser, entry.user, entry);
    if (this.#look && entry.handle !== publicHandle) this.#looks.set(entry.handle, this.#look(entry.user, entry.handle));
    let registered = true;
    return () => {
      if (!registered) return;
      registered = false;
      remove(this.#byHandle, entry.handle, entry);
      remove(this.#byUser, entry.user, entry);
      if (!this.#byHandle.has(entry.handle)) this.#looks.delete(entry.handle);
    };
  }

  /**
   * Resolves once the first look at the session of a connection just added has ended (it may have
   * closed it): a relay waits for it before its first byte, so a connection that relays is one
   * that only a later revocation or expiry can end.
   */
  watched(handle: string): Promise<void> {
    return this.#looks.get(handle) ?? Promise.resolve();
  }

  /**
   * The open connections' session handles, by user (what SessionConnectionsWatch re-checks).
   * Connections on public routes are left out: no session of theirs can end, and re-checking the
   * user '' would find no live session and close them all with 4401.
   */
  handlesByUser(): Map<string, Set<string>> {
    const users = new Map<string, Set<string>>();
    for (const [handle, set] of this.#byHandle) {
      if (handle === publicHandle) continue;
      for (const entry of set) {
        let handles = users.get(entry.user);
        if (!handles) users.set(entry.user, (handles = new Set()));
        handles.add(handle);
      }
    }
    return users;
  }

  /** Open event streams: in-flight responses that a draining listener must not wait for. */
  streams(): number {
    let count = 0;
    for (const entries of this.#byHandle.values()) for (const entry of entries) if (entry.kind === 'stream') count++;
    return count;
  }

  /** This process's open WebSockets and event streams (SPEC §11 metrics). */
  counts(): { sockets: number; streams: number } {
    let sockets = 0;
    let streams = 0;
    for (const entries of this.#byHandle.values()) {
      for (const entry of entries) {
        if (entry.kind === 'stream') streams++;
        else sockets++;
      }
    }
    return { sockets, streams };
  }

  countFor(handle: string): number {
    return this.#byHandle.get(handle)?.size ?? 0;
  }

  closeSession(handle: string, code: number, reason: string): number {
    return closeEach(this.#byHandle.get(handle), code, reason);
  }

  closeUser(user: string, code: number, reason: string): number {
    return closeEach(this.#byUser.get(user), code, reason);
  }

  closeAll(code: number, reason: string): number {
    let closed = 0;
    for (const entries of [...this.#byHandle.values()]) closed += closeEach(entries, code, reason);
    return closed;
  }
}

function insert(map: Map<string, Set<OpenConnection>>, key: string, entry: OpenConnection): void {
  let entries = map.get(key);
  if (!entries) map.set(key, entries = new Set());
  entries.add(entry);
}

function remove(map: Map<string, Set<OpenConnection>>, key: string, entry: OpenConnection): void {
  const entries = map.get(key);
  if (!entries) return;
  entries.delete(entry);
  if (entries.size === 0) map.delete(key);
}

/**
 * Closes a snapshot: a close may unregister its entry (and so change the set) synchronously; and
 * one connection that fails to close must not keep the others of a revoked session open.
 */
function closeEach(entries: Set<OpenConnection> | undefined, code: number, reason: string): number {
  if (!entries) return 0;
  const snapshot = [...entries];
  for (const entry of snapshot) {
    try {
      entry.close(code, reason);
    } catch {
      // Already gone (a destroyed socket): nothing left to close.
    }
  }
  return snapshot.length;
}
