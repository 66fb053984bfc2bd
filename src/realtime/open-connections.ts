/** One open WebSocket or event stream, as the registry knows it. */
export interface OpenConnection {
  /** The session's handle (never its cookie token). */
  handle: string;
  user: string;
  /** Ends the connection: a WebSocket closes with `code`; an event stream ignores code and reason and ends. */
  close(code: number, reason: string): void;
}

/**
 * This process's open WebSockets and event streams, by session handle and user, so that a revoked
 * or expired session's long-lived connections can be found and closed (SPEC §10: within 1 s) and
 * counted (at most 20 WebSockets per session). Closing unregisters nothing by itself: each
 * connection calls the function `add` returned when it ends, whoever ended it.
 */
export class OpenConnections {
  readonly #byHandle = new Map<string, Set<OpenConnection>>();

  /** Registers an open socket/stream; returns the function that unregisters it. */
  add(entry: OpenConnection): () => void {
    let set = this.#byHandle.get(entry.handle);
    if (!set) {
      set = new Set();
      this.#byHandle.set(entry.handle, set);
    }
    set.add(entry);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const current = this.#byHandle.get(entry.handle);
      if (!current) return;
      current.delete(entry);
      if (current.size === 0) this.#byHandle.delete(entry.handle);
    };
  }

  /** The open connections' session handles, by user (what SessionConnectionsWatch re-checks). */
  handlesByUser(): Map<string, Set<string>> {
    const users = new Map<string, Set<string>>();
    for (const [handle, set] of this.#byHandle) {
      for (const entry of set) {
        let handles = users.get(entry.user);
        if (!handles) users.set(entry.user, (handles = new Set()));
        handles.add(handle);
      }
    }
    return users;
  }

  countFor(handle: string): number {
    return this.#byHandle.get(handle)?.size ?? 0;
  }

  closeSession(handle: string, code: number, reason: string): number {
    const set = this.#byHandle.get(handle);
    return set ? closeEach([...set], code, reason) : 0;
  }

  closeUser(user: string, code: number, reason: string): number {
    const matching: OpenConnection[] = [];
    for (const set of this.#byHandle.values()) for (const entry of set) if (entry.user === user) matching.push(entry);
    return closeEach(matching, code, reason);
  }

  closeAll(code: number, reason: string): number {
    const all: OpenConnection[] = [];
    for (const set of this.#byHandle.values()) all.push(...set);
    return closeEach(all, code, reason);
  }
}

/**
 * Closes a snapshot (a close function may unregister its entry, changing the sets, while we loop);
 * one connection that fails to close must not keep the others of a revoked session open.
 */
function closeEach(entries: readonly OpenConnection[], code: number, reason: string): number {
  for (const entry of entries) {
    try {
      entry.close(code, reason);
    } catch {
      // Already gone (a destroyed socket): nothing left to close.
    }
  }
  return entries.length;
}
