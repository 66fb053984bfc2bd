import type { Logger } from '../log/logger.js';
import type { NodeChannel } from './node-channel.js';
import type { NodeRegistry } from './node-registry.js';
import { trustForMs } from './revocation-follower.js';

/** A heartbeat younger than this makes a process one the revoker waits for (SPEC §8). */
export const liveWithinMs = 1_000;
/**
 * SPEC §8: "A revoker waits at most 2 s for confirmations." It need never wait longer than this:
 * a process answers from memory only while its last good round STARTED less than `trustForMs`
 * ago, so once that much has passed since the revocation committed, every process answering from
 * memory has started a log read after the commit, and applied it. The margin covers timers firing
 * late. Confirmations only make the answer come sooner than this.
 */
export const confirmationTimeoutMs = trustForMs + 250;
/** SPEC §8: "A revoker waits at most 2 s for confirmations." */
const maxWaitMs = 2_000;

interface Waiter {
  seq: number;
  confirmedBy: Set<string>;
  wake: () => void;
  /** The announcement has gone out (or failed). */
  sent: boolean;
  /** performance.now() past which the revoker answers anyway. */
  deadline: number;
}

/**
 * The revoker's side of confirmed revocation (SPEC §8 "Revocation stays immediate"): after a
 * revocation with log seq `seq` has committed and been announced, `waitFor(seq)` resolves once
 * every live serving process other than this one has applied it, or after 1 s. A process counts
 * as live while its heartbeat in the node registry is less than 1 s old, or while the channel's
 * alive record holds it (it said `alive` less than 1 s ago: a node cut off from PostgreSQL that
 * trusts its memory on the channel alone, cluster/channel-probe.ts); it has applied `seq` when it
 * says so on the channel (`confirmed`, the fast path) or its registry row's applied seq has
 * reached it (the path that needs no channel: SQLite, or Redis down).
 *
 * Why giving up is safe: see `confirmationTimeoutMs` (1 s after the commit no process can still be
 * answering from a memory that holds the revoked session, whether it confirmed, died, hung or lost
 * the store). Never throws: a wait that cannot be completed ends at the timeout, and the
 * revocation stands.
 */
export class RevocationConfirmations {
  readonly #registry: NodeRegistry;
  readonly #channel: NodeChannel;
  readonly #logger: Logger;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #self: string | null;
  readonly #waiters = new Set<Waiter>();
  #unsubscribe: (() => void) | null = null;

  /** `self`: this process's own id in the registry when it serves (its memory forgets before it waits), else null (the CLI). */
  constructor(deps: { registry: NodeRegistry; channel: NodeChannel; logger: Logger; pollMs: number; self: string | null; timeoutMs?: number }) {
    this.#self = deps.self;
    this.#registry = deps.registry;
    this.#channel = deps.channel;
    this.#logger = deps.logger;
    this.#pollMs = deps.pollMs;
    this.#timeoutMs = deps.timeoutMs ?? confirmationTimeoutMs;
  }

  /**
   * Registers the wait synchronously, before its first await: call it before announcing, so a
   * confirmation that comes back at once is not missed. `announced` settles once the announcement
   * has been handed to the channel (or failed): the alive record is read only after it.
   */
  waitFor(seq: number, announced: Promise<unknown> = Promise.resolve()): Promise<void> {
    // Subscribed on first use: the CLI only listens while it waits for its own revocations.
    this.#unsubscribe ??= this.#channel.subscribe((message) => {
      if (message.type !== 'confirmed') return;
      for (const waiter of this.#waiters) {
        if (waiter.seq === message.seq) {
          waiter.confirmedBy.add(message.by);
          waiter.wake();
        }
      }
    });
    const started = performance.now();
    const waiter: Waiter = { seq, confirmedBy: new Set(), wake: () => undefined, sent: false, deadline: started + this.#timeoutMs };
    this.#waiters.add(waiter);
    const timeoutMs = this.#timeoutMs;
    void announced.then(mark, mark);
    function mark(): void {
      waiter.sent = true;
      // The channel's proof lapses 750 ms after the `revoked` message ran in Redis (at the latest
      // when the announcement returned): a slow announcement (a large cache.timeout) moves the
      // deadline with it, within SPEC §8's 2 s.
      waiter.deadline = Math.min(Math.max(waiter.deadline, performance.now() + timeoutMs), started + maxWaitMs);
      waiter.wake();
    }
    return this.#wait(waiter).finally(() => this.#waiters.delete(waiter));
  }

  async #wait(waiter: Waiter): Promise<void> {
    let pending: string[] = [];
    let unreadable = false;
    let aliveUnreadable = false;
    while (performance.now() < waiter.deadline) {
      pending = [];
      const sent = waiter.sent;
      try {
        // A read that hangs (a frozen store) must not hold the revoker past its deadline.
        const read = Promise.all([this.#registry.live(liveWithinMs), sent && !aliveUnreadable ? this.#alive() : Promise.resolve([])]);
        const found = await Promise.race([read, after(waiter.deadline - performance.now())]);
        if (found === null) break;
        const [live, alive] = found;
        // Not read again in this wait: each try could cost the cache timeout (a hung Redis).
        if (alive === null) aliveUnreadable = true;
        const applied = new Set(live.filter((node) => node.appliedSeq >= waiter.seq).map((node) => node.nodeId));
        const waitFor = new Set([...live.map((node) => node.nodeId), ...(alive ?? [])]);
        pending = [...waitFor].filter((id) => id !== this.#self && !applied.has(id) && !waiter.confirmedBy.has(id));
        // Not before the announcement went out: a node that trusts its memory on the channel alone
        // (PostgreSQL unreachable for it) is absent from the registry and shows in the alive
        // record, which only a read made after the announcement covers (cluster/channel-probe.ts).
        if (pending.length === 0 && sent) return;
      } catch (error) {
        // Once per wait: the registry is re-read every poll.
        if (!unreadable) this.#logger.warn({ err: { name: error instanceof Error ? error.name : 'Error' } }, 'could not read the live processes while waiting for revocation confirmations');
        unreadable = true;
      }
      // Woken by a `confirmed` message, the announcement going out, or the next poll, whichever
      // comes first; the registry is read again either way (a process that left or died stops
      // counting).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, Math.min(this.#pollMs, waiter.deadline - performance.now())));
        function done(): void {
          clearTimeout(timer);
          waiter.wake = () => undefined;
          resolve();
        }
        waiter.wake = () => {
          if (waiter.sent !== sent || (pending.length > 0 && pending.every((id) => waiter.confirmedBy.has(id)))) done();
        };
        waiter.wake();
      });
    }
    this.#logger.warn({ seq: waiter.seq, unconfirmed: pending.length }, 'a revocation was not confirmed by every live process within 1 s; answering anyway (by now none of them answers from a memory that predates it)');
  }

  /**
   * The nodes the channel's alive record holds, or null when it cannot be read (logged; not read
   * again in that wait). Unreadable means this process cannot reach Redis, so its announcement did
   * not go out either: no node hears it on the channel, and waiting would not change that. The
   * registry alone then decides (decision 0008, "What is promised when each part fails").
   */
  async #alive(): Promise<string[] | null> {
    try {
      return await this.#channel.aliveNodes();
    } catch (error) {
      this.#logger.warn({ err: { name: error instanceof Error ? error.name : 'Error' } }, 'could not read which processes are alive on the node channel while waiting for revocation confirmations');
      return null;
    }
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }
}

function after(ms: number): Promise<null> {
  return new Promise((resolve) => setTimeout(() => resolve(null), Math.max(0, ms)).unref());
}
