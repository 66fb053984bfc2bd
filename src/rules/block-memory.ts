import type { Announce } from '../cluster/announcer.js';
import { confirmationTimeoutMs } from '../cluster/revocation-confirmations.js';
import { trustForMs } from '../cluster/revocation-follower.js';
import { errorFields } from '../log/error-fields.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import type { Block, BlockedBy, BlockStore } from './block-store.js';

export interface BlockMemoryDeps {
  /** The shared store: the record, which every change is written to first. */
  store: BlockStore;
  /** Whether announcements from the other processes reach this one (the node channel's `connected`). */
  hearing(): boolean;
  /**
   * Whether the channel provably carries this process's messages round trip now
   * (cluster/channel-probe.ts `proven`): then the memory stays trusted past the re-read's window,
   * so known traffic keeps working while PostgreSQL is down (SPEC §8 "Failures"). Default: never.
   */
  vouched?: () => boolean;
  /** Tells the other processes a block was added (they re-read: `changed {what: 'blocks'}`). */
  announce: Announce;
  clock: Clock;
  logger: Logger;
  /** The backstop re-read, for an announcement missed or late (default 250 ms). */
  refreshEveryMs?: number;
  /** A monotonic clock in milliseconds for the trust window (default performance.now); tests inject one. */
  now?: () => number;
  /**
   * How long `add` holds the request that set a block after the commit (default
   * `confirmationTimeoutMs`): by then every process answering from its memory has started a re-read
   * after the commit (below). Tests of this class alone shorten it.
   */
  settleMs?: number;
}

/**
 * The active rate-rule blocks (few) held in this process's memory, so a proxied request costs no
 * store round trip for them (SPEC §8 "Speed") while a block set on one node is still enforced on
 * all from the next request (SPEC §8 "Limits hold across nodes"). A BlockStore: reads are answered
 * from memory, writes go to the store.
 *
 * The memory is only ever changed by one path, `#load`: the store's whole list of active blocks,
 * read after the event that asked for it. What asks: the start; a block added here (written, then
 * announced before the request that set it is answered); `changed {what: 'blocks'}` heard from
 * another process (`block remove`, a block set elsewhere); the channel coming back (announcements
 * may have been missed); and a re-read every `refreshEveryMs` as the backstop. From the moment a
 * change is announced or made here until its re-read has landed, reads wait for that re-read
 * ("stale"): a request is never answered from a memory known to be out of date.
 *
 * An announcement may arrive after the next request does, or not at all (Redis frozen: the channel
 * still looks connected). So, as for sessions (cluster/revocation-follower.ts), the memory is trusted
 * only while its last successful re-read STARTED less than `trustForMs` ago (re-reads run every
 * 250 ms), and `add` answers the request that set a block only `confirmationTimeoutMs` after the
 * commit: by then no process is answering from a memory read before the block existed, whether the
 * announcement reached it or not. A block is set by a refused request, so only that refusal waits.
 *
 * Past that window the channel alone may vouch (`vouched`, cluster/channel-probe.ts): it carries
 * this process's own messages round trip, so a `changed` published before the last of them was
 * heard (and started a re-read that reads wait for: if it fails, the memory is dropped), and one
 * published later either arrives or the proof lapses within `trustForMs`, inside the setter's hold.
 * A drop of the channel re-reads at once (app/create-gateway.ts). So while PostgreSQL is down,
 * requests keep being checked against the blocks last read, and a change made elsewhere meanwhile
 * makes them fail closed (503) rather than go unseen.
 *
 * While the channel is not connected, announcements from elsewhere cannot arrive, so memory is
 * not trusted at all: every read goes to the store, as it did without the memory. Also before the
 * first load, after a re-read that failed (until one succeeds), and once the trust window passed
 * unless the channel vouches.
 */
export class BlockMemory implements BlockStore {
  readonly #deps: BlockMemoryDeps;
  readonly #refreshEveryMs: number;
  readonly #now: () => number;
  readonly #settleMs: number;
  /** The latest end per kind of key and key ("ip 192.0.2.1"); null while not loaded. */
  #blocks: Map<string, number> | null = null;
  /** When (#now) the re-read whose result the memory holds started. */
  #loadedAt = Number.NEGATIVE_INFINITY;
  /** The generation of the newest re-read started, and of the one whose result the memory holds. */
  #started = 0;
  #applied = 0;
  /** The re-read asked for by a change, under way: reads wait for it. */
  #running: Promise<void> | null = null;
  /** One more, queued behind it by a change heard meanwhile (it must start after that change). */
  #next: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** A re-read failed and none has succeeded since (logged once per outage). */
  #failing = false;

  constructor(deps: BlockMemoryDeps) {
    this.#deps = deps;
    this.#refreshEveryMs = deps.refreshEveryMs ?? 250;
    this.#now = deps.now ?? (() => performance.now());
    this.#settleMs = deps.settleMs ?? confirmationTimeoutMs;
  }

  /** Loads the blocks and starts the backstop re-read. Reads before the load lands go to the store. */
  async start(): Promise<void> {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#load(false), this.#refreshEveryMs);
    this.#timer.unref();
    await this.changed();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Someone changed the blocks (a `changed` message, the channel back): re-reads them, and holds
   * every read until that re-read lands. The hold starts synchronously, so a request handled after
   * the message was heard waits for it.
   */
  changed(): Promise<void> {
    // At most one re-read at a time and one queued, however many changes arrive (a flood of new
    // blocks costs each node one list per re-read, not one per block).
    if (this.#next) return this.#next;
    if (!this.#running) return this.#run();
    const next = this.#running.then(() => {
      this.#next = null;
      return this.#run();
    });
    this.#next = next;
    return next;
  }

  async add(block: Block): Promise<void> {
    await this.#deps.store.add(block);
    const settled = new Promise((resolve) => setTimeout(resolve, this.#settleMs));
    // Others first: the request that set it is answered only once it is announced (SPEC §8, a block
    // set on one node is enforced on all; the announcement resolves either way, see announcer),
    // and once no process can still answer from a memory read before the commit (class comment).
    await this.#deps.announce({ type: 'changed', what: 'blocks' });
    await this.changed();
    await settled;
  }

  async blockedUntil(by: BlockedBy, key: string, now: number): Promise<number | null> {
    if (!this.#deps.hearing()) return this.#deps.store.blockedUntil(by, key, now);
    while (this.#next ?? this.#running) await (this.#next ?? this.#running);
    const known = this.blockedUntilNow(by, key, now);
    return known === undefined ? this.#deps.store.blockedUntil(by, key, now) : known;
  }

  /** From memory when it may answer now (heard, no re-read pending, loaded and trusted or vouched for); else undefined. */
  blockedUntilNow(by: BlockedBy, key: string, now: number): number | null | undefined {
    if (this.#blocks === null || this.#next !== null || this.#running !== null || !this.#deps.hearing()) return undefined;
    if (this.#now() - this.#loadedAt >= trustForMs && !(this.#deps.vouched?.() ?? false)) return undefined;
    const until = this.#blocks.get(`${by} ${key}`);
    return until !== undefined && until > now ? until : null;
  }

  list(now: number): Promise<Block[]> {
    return this.#deps.store.list(now);
  }

  async remove(rule: string, key: string, now: number): Promise<Block | null> {
    const removed = await this.#deps.store.remove(rule, key, now);
    if (removed) await this.changed();
    return removed;
  }

  purge(now: number): Promise<number> {
    return this.#deps.store.purge(now);
  }

  #run(): Promise<void> {
    const run = this.#load(true).finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  /**
   * The one path that changes the memory: the store's list, unless a newer re-read has already
   * landed. `asked`: a change (or the start) asked for it; else it is the backstop's.
   */
  async #load(asked: boolean): Promise<void> {
    const generation = (this.#started += 1);
    const startedAt = this.#now();
    try {
      const active = await this.#deps.store.list(this.#deps.clock.now());
      if (generation > this.#applied) {
        const blocks = new Map<string, number>();
        for (const block of active) {
          const id = `${block.by} ${block.key}`;
          blocks.set(id, Math.max(blocks.get(id) ?? Number.NEGATIVE_INFINITY, block.until));
        }
        this.#blocks = blocks;
        this.#loadedAt = startedAt;
        this.#applied = generation;
      }
      if (this.#failing) this.#deps.logger.info('re-reading the rate-rule blocks again');
      this.#failing = false;
    } catch (error) {
      // A change this process was told of and could not read: reads go to the store until a
      // re-read succeeds. A failed backstop changes nothing: the memory holds what it held, trusted
      // for what is left of its window, or while the channel vouches (class comment).
      if (asked && generation > this.#applied) {
        this.#blocks = null;
        this.#applied = generation;
      }
      if (this.#failing) return;
      this.#failing = true;
      // Name and code only: a driver's message can hold the connection string.
      this.#deps.logger.error({ err: errorFields(error) }, 'could not re-read the rate-rule blocks; the memory is trusted only while the channel vouches for it, else they are read from the store on each request, until it works');
    }
  }
}
