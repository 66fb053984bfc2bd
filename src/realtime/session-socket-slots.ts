import type { Logger } from '../log/logger.js';
import { errorFields } from '../log/error-fields.js';
import { slotLiveWithinMs, type ConnectionSlots } from './connection-slots.js';

/** SPEC §10: open WebSockets per session, across workers and nodes. */
export const maxSocketsPerSession = 20;

/**
 * This process's side of the shared WebSocket count (connection-slots.ts): one slot per open
 * socket of a session, in the store every worker and node shares (decision 0015).
 */
export class SessionSocketSlots {
  readonly #slots: ConnectionSlots;
  readonly #nodeId: string;
  readonly #logger: Logger;
  readonly #limit: number;
  #taken = 0;

  constructor(deps: { slots: ConnectionSlots; nodeId: string; logger: Logger; limit?: number }) {
    this.#slots = deps.slots;
    this.#nodeId = deps.nodeId;
    this.#logger = deps.logger;
    this.#limit = deps.limit ?? maxSocketsPerSession;
  }

  /**
   * Takes one of the session's slots: resolves to its release, or null when the session already
   * holds the limit. Rejects (StoreUnavailableError) when the store cannot answer: the socket is
   * then refused, never let through uncounted.
   */
  async take(handle: string): Promise<(() => void) | null> {
    // Unique without randomness: the node id is random and this counter never repeats within it.
    const slotId = `${this.#nodeId}.${++this.#taken}`;
    if (!(await this.#slots.take(handle, slotId, this.#nodeId, this.#limit, slotLiveWithinMs))) return null;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // Never thrown into the relay: a slot whose release failed stops counting when this node
      // leaves or is purged (housekeeping), the same rule as after a crash.
      this.#slots.release(slotId).catch((error: unknown) => {
        this.#logger.warn({ err: errorFields(error) }, 'could not release a WebSocket slot; it counts until this node leaves the registry');
      });
    };
  }
}
