import type { Logger } from '../log/logger.js';
import type { NodeChannel } from './node-channel.js';
import type { NodeMessage } from './node-messages.js';
import { trustForMs } from './revocation-follower.js';

/** How often a serving process says `alive` on the channel. */
export const aliveEveryMs = 200;

/**
 * Whether the node channel provably carries this process's messages round trip, now (SPEC §8: "a
 * node that has heard from neither [the channel nor the log] for 1 s stops answering from memory";
 * docs/decisions/0008-session-memory.md, "The channel vouches"). Every `aliveEveryMs` the process
 * says `alive` (NodeChannel.alive: its id recorded among the alive ones, and a message naming it);
 * `proven` holds while one of those messages, sent less than `trustForMs` ago, has come back to it,
 * and the channel has stayed connected without a drop since that message was sent.
 *
 * Why that vouches for the memory: Redis hands a subscriber its messages in the order it ran the
 * PUBLISHes, so a process that heard its own `alive` back has heard every `revoked` published
 * before it, and applied it (the follower forgets on receipt, synchronously). A revocation
 * published after it reaches this process too, or else no later `alive` comes back and `proven`
 * lapses `trustForMs` after the last one was sent, before the revoker's 1 s is over. And the
 * revoker does not answer earlier without this process's confirmation: it reads the alive record
 * after its announcement went out (cluster/revocation-confirmations.ts), and this process's record
 * is there for 1 s after the `alive` this process trusts on.
 *
 * Only where the channel crosses processes (Redis beside PostgreSQL): on SQLite the in-process
 * channel reaches neither the other workers nor the CLI.
 *
 * `now` is a monotonic clock in milliseconds (performance.now), injected by tests.
 */
export class ChannelProbe {
  readonly #channel: NodeChannel;
  readonly #nodeId: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #everyMs: number;
  /** Each `alive` in flight: when it was sent and the drop count then. */
  readonly #sent = new Map<number, { at: number; drops: number }>();
  #n = 0;
  #drops = 0;
  /** The newest `alive` heard back: when it was sent, and the drop count then. */
  #echo: { at: number; drops: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stop: (() => void)[] = [];
  #failing = false;

  /** `nodeId`: this process's id in the node registry, which revokers wait on (the follower's). */
  constructor(deps: { channel: NodeChannel; nodeId: string; logger: Logger; now?: () => number; everyMs?: number }) {
    this.#channel = deps.channel;
    this.#nodeId = deps.nodeId;
    this.#logger = deps.logger;
    this.#now = deps.now ?? (() => performance.now());
    this.#everyMs = deps.everyMs ?? aliveEveryMs;
  }

  get proven(): boolean {
    const echo = this.#echo;
    return echo !== null && echo.drops === this.#drops && this.#channel.connected && this.#now() - echo.at < trustForMs;
  }

  start(): void {
    if (this.#stop.length > 0) return;
    this.#stop.push(this.#channel.subscribe((message) => this.#hear(message)));
    this.#stop.push(this.#channel.onStatus((connected) => {
      if (!connected) {
        this.#drops += 1;
        return;
      }
      // Back: prove it again at once rather than at the next tick.
      void this.send();
    }));
    this.#timer = setInterval(() => void this.send(), this.#everyMs);
    this.#timer.unref();
    void this.send();
  }

  stop(): void {
    for (const stop of this.#stop) stop();
    this.#stop = [];
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#echo = null;
    this.#sent.clear();
  }

  /** Says `alive` once (the timer calls it; tests call it directly). Never rejects. */
  async send(): Promise<void> {
    const at = this.#now();
    for (const [n, sent] of this.#sent) if (at - sent.at >= trustForMs) this.#sent.delete(n);
    const n = this.#n;
    this.#n += 1;
    this.#sent.set(n, { at, drops: this.#drops });
    try {
      await this.#channel.alive(this.#nodeId, n);
      if (this.#failing) this.#logger.info('saying alive on the node channel again');
      this.#failing = false;
    } catch (error) {
      // Once per outage; the channel's own status is logged by NodeListener.
      if (!this.#failing) this.#logger.warn({ err: { name: error instanceof Error ? error.name : 'Error' } }, 'could not say alive on the node channel; only the revocation log vouches for the session memory meanwhile');
      this.#failing = true;
    }
  }

  #hear(message: NodeMessage): void {
    if (message.type !== 'alive' || message.node !== this.#nodeId) return;
    const sent = this.#sent.get(message.n);
    if (!sent) return;
    this.#sent.delete(message.n);
    // Heard over a connection that dropped after it was sent: the drop may have lost what came before it.
    if (sent.drops !== this.#drops || !this.#channel.connected) return;
    if (!this.#echo || sent.at >= this.#echo.at) this.#echo = sent;
  }
}
