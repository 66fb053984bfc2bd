import { errorFields } from '../log/error-fields.js';
import type { Logger } from '../log/logger.js';
import type { SessionMemory } from '../sessions/session-memory.js';
import type { NodeChannel } from './node-channel.js';
import type { NodeMessage } from './node-messages.js';
import type { NodeRegistry } from './node-registry.js';
import { revocationPageSize, type RevocationLog } from './revocation-log.js';

/**
 * How long after the START of its last successful round (log read + heartbeat) a process still
 * answers from memory. A revoker stops waiting for a process whose heartbeat is 1 s old
 * (revocation-confirmations.ts); the heartbeat is written after the round started, so by then this
 * process has stopped trusting its memory for at least 250 ms.
 */
export const trustForMs = 750;

/**
 * A heartbeat is written at least this often, and at once when the applied seq moved: a round that
 * read nothing new (most of them, on SQLite every 50 ms) need not write.
 */
export const heartbeatEveryMs = 200;

/** SPEC §8: "every node also reads that log at least every 250 ms". */
export const followIntervalMs = { channel: 200, local: 50 } as const;

/**
 * One per serving process (SPEC §8 "Revocation stays immediate"): keeps the process's session
 * memory in step with every revocation, and says how far it has got.
 *
 * - A `revoked` message is applied to the memory at once, then confirmed on the channel.
 * - Every `intervalMs` it reads the revocation log after the last seq applied, applies each entry
 *   (a log that may have lost entries, `complete: false`, clears the memory), and writes its
 *   heartbeat with that seq to the node registry, which is how a revoker without a channel (SQLite,
 *   or Redis down) learns it has applied a revocation.
 * - `trusted` is what the memory answers under: the channel has stayed connected since the last
 *   successful round started (messages lost while it was down are only found by a later log
 *   read), and either that round (log read and heartbeat) started less than 750 ms ago, or the
 *   `probe` (beside PostgreSQL: cluster/channel-probe.ts) says the channel carries this process's
 *   own messages round trip now. The second keeps known sessions working while PostgreSQL is down
 *   (SPEC §8 "Failures"); a revoker then waits for this process's `confirmed` message.
 *
 * `now` is a monotonic clock in milliseconds (performance.now), injected by tests.
 */
export class RevocationFollower {
  readonly #log: RevocationLog;
  readonly #registry: NodeRegistry;
  readonly #channel: NodeChannel;
  readonly #memory: SessionMemory;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #nodeId: string;
  readonly #probe: { readonly proven: boolean } | null;
  /** Every revocation up to this seq (read from the log) is applied. */
  #applied = 0;
  /** Counts the channel's drops: a round that started before the latest drop cannot vouch for what followed. */
  #drops = 0;
  #lastGood: { startedAt: number; drops: number } | null = null;
  /** When the last successful heartbeat's round started, and the seq it wrote. */
  #beat: { startedAt: number; applied: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<boolean> | null = null;
  #stopped = true;
  #failing = false;
  #stop: (() => void)[] = [];

  /**
   * `nodeId`: this process's name in the registry and in its `confirmed` messages; its own, not the
   * channel's, because in tests several services share one store and one channel in one process.
   */
  constructor(deps: { nodeId: string; log: RevocationLog; registry: NodeRegistry; channel: NodeChannel; memory: SessionMemory; logger: Logger; intervalMs: number; now?: () => number; probe?: { readonly proven: boolean } | null }) {
    this.#nodeId = deps.nodeId;
    this.#probe = deps.probe ?? null;
    this.#log = deps.log;
    this.#registry = deps.registry;
    this.#channel = deps.channel;
    this.#memory = deps.memory;
    this.#logger = deps.logger;
    this.#intervalMs = deps.intervalMs;
    this.#now = deps.now ?? (() => performance.now());
    this.#memory.trustWhen(() => this.trusted);
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  /** The highest revocation seq read from the log and applied. */
  get applied(): number {
    return this.#applied;
  }

  get trusted(): boolean {
    const good = this.#lastGood;
    if (good === null || good.drops !== this.#drops || !this.#channel.connected) return false;
    // The log vouches (a round started less than 750 ms ago), or the channel does: connected
    // without a drop since that round (which caught up with what came before), and carrying this
    // process's own messages round trip now (cluster/channel-probe.ts). SPEC §8: it stops answering
    // from memory when it has heard from neither.
    return this.#now() - good.startedAt < trustForMs || (this.#probe?.proven ?? false);
  }

  /**
   * Starts from the log's newest seq (the memory is empty, so nothing before it matters), then
   * follows. Resolves after the first round, successful or not.
   */
  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#memory.clear();
    this.#stop.push(this.#channel.subscribe((message) => this.#hear(message)));
    this.#stop.push(this.#channel.onStatus((connected) => {
      if (!connected) {
        this.#drops += 1;
        return;
      }
      // Back: one read of the log now covers what was missed, and trust returns with it.
      this.#schedule(0);
    }));
    try {
      this.#applied = await this.#log.latestSeq();
    } catch (error) {
      this.#logError(error);
    }
    await this.tick();
  }

  /**
   * One round: read the log since the last applied seq, apply it, write the heartbeat. True when
   * both succeeded. Rounds never overlap; the next is scheduled when this one ends.
   */
  tick(): Promise<boolean> {
    if (this.#running) return this.#running;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const round = this.#round().finally(() => {
      this.#running = null;
      if (!this.#stopped) this.#schedule(this.#intervalMs);
    });
    this.#running = round;
    return round;
  }

  async #round(): Promise<boolean> {
    const startedAt = this.#now();
    const drops = this.#drops;
    const connected = this.#channel.connected;
    try {
      for (;;) {
        const { revocations, complete } = await this.#log.since(this.#applied);
        if (!complete) {
          this.#memory.clear();
          this.#logger.warn('the revocation log no longer holds every entry this process had yet to read; forgetting every remembered session');
        }
        for (const entry of revocations) {
          this.#memory.forget(entry.scope, entry.subject);
          this.#applied = entry.seq;
        }
        if (revocations.length < revocationPageSize) break;
      }
      if (!this.#beat || this.#beat.applied !== this.#applied || startedAt - this.#beat.startedAt >= heartbeatEveryMs) {
        await this.#registry.beat(this.#nodeId, this.#applied);
        this.#beat = { startedAt, applied: this.#applied };
      }
      // Trust runs from the older of this log read and the last heartbeat: the revoker's 1 s is
      // counted from the heartbeat.
      if (connected) this.#lastGood = { startedAt: Math.min(startedAt, this.#beat.startedAt), drops };
      if (this.#failing) this.#logger.info('following the revocation log again');
      this.#failing = false;
      return true;
    } catch (error) {
      // Once per outage, not every round.
      if (!this.#failing) this.#logError(error);
      this.#failing = true;
      return false;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.tick(), delayMs);
    this.#timer.unref();
  }

  #hear(message: NodeMessage): void {
    if (message.type !== 'revoked') return;
    this.#memory.forget(message.scope, message.scope === 'all' ? null : message.subject);
    // `confirmed` names exactly the revocation applied, not "everything up to": a message may
    // overtake an earlier one that was lost, and only the log read says nothing is missing.
    this.#channel.publish({ type: 'confirmed', seq: message.seq, by: this.#nodeId }).catch((error: unknown) => {
      this.#logger.warn({ err: { name: error instanceof Error ? error.name : 'Error' } }, 'could not confirm a revocation on the channel; the registry will show it applied');
    });
  }

  #logError(error: unknown): void {
    // Name and code only: a driver's message can hold the connection string (user, host, password).
    this.#logger.warn({ err: errorFields(error) }, 'could not follow the revocation log; sessions are read from the store until it works again');
  }

  /** Stops following and leaves the registry, so no revoker waits for this process. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const stop of this.#stop) stop();
    this.#stop = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => undefined);
    this.#lastGood = null;
    this.#beat = null;
    await this.#registry.leave(this.#nodeId).catch((error: unknown) => this.#logError(error));
  }
}
