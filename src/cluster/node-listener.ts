import type { Logger } from '../log/logger.js';
import type { NodeChannel } from './node-channel.js';
import type { NodeMessage } from './node-messages.js';
import { errorFields } from '../log/error-fields.js';

/** What a running gateway re-reads at once when another process says it changed. */
export interface Refreshers {
  secrets(): Promise<unknown>;
  keys(): Promise<unknown>;
  /** Called synchronously on receipt: the block memory starts holding reads at once (rules/block-memory.ts). */
  blocks(): Promise<unknown>;
}

/**
 * A running gateway's ear on the channel (SPEC §8). `changed` re-reads that cache at once (the
 * polling stays, as the backstop for a message missed). `revoked` records the highest revocation
 * seq heard; dropping what it names from the session memory and confirming it is the
 * RevocationFollower's (cluster/revocation-follower.ts).
 * `blocks` re-reads the active blocks (on PostgreSQL they are held in memory, rules/block-memory.ts).
 */
export class NodeListener {
  readonly #channel: NodeChannel;
  readonly #refresh: Refreshers;
  readonly #logger: Logger;
  #heardSeq = 0;
  #stop: (() => void)[] = [];

  constructor(deps: { channel: NodeChannel; refresh: Refreshers; logger: Logger }) {
    this.#channel = deps.channel;
    this.#refresh = deps.refresh;
    this.#logger = deps.logger;
  }

  /** The highest revocation log seq announced to this process since it started listening. */
  get heardSeq(): number {
    return this.#heardSeq;
  }

  start(): void {
    if (this.#stop.length > 0) return;
    this.#stop.push(this.#channel.subscribe((message) => this.#hear(message)));
    const report = (connected: boolean): void => {
      if (connected) this.#logger.info('node channel connected: announcements from other nodes are heard');
      else this.#logger.warn('node channel lost: changes made elsewhere reach this node by polling until it is back');
    };
    this.#stop.push(this.#channel.onStatus(report));
    // The revocation follower subscribes first, so the channel may already be up: say so once.
    if (this.#channel.connected) report(true);
  }

  stop(): void {
    for (const stop of this.#stop) stop();
    this.#stop = [];
  }

  #hear(message: NodeMessage): void {
    switch (message.type) {
      case 'revoked':
        if (message.seq > this.#heardSeq) this.#heardSeq = message.seq;
        return;
      case 'confirmed':
        return;
      case 'changed':
        this.#refresh[message.what]().catch((error: unknown) => {
          this.#logger.error({ what: message.what, err: errorFields(error) }, 'could not re-read what another node changed; polling will');
        });
    }
  }
}
