import type { Announce } from '../cluster/announcer.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../security/clock.js';
import type { Block, BlockStore } from './block-store.js';

export interface BlockServiceDeps {
  store: BlockStore;
  audit: AuditLog;
  clock: Clock;
  /** Tells the other processes a block was lifted (on PostgreSQL they hold blocks in memory, block-memory.ts). */
  announce?: Announce;
  /**
   * Resolves once every process holding blocks in memory has re-read them since the removal was
   * committed (a single SQLite process: app/open-services.ts); by default at once.
   */
  settle?: () => Promise<void>;
}

/**
 * What an operator does with rate-rule blocks (SPEC §2 `block list` / `block remove`): see the
 * active ones and lift one. Lifting is one write to the shared store, then an announcement: on SQLite
 * with several workers every process reads the store on each request a blocking rule could refuse;
 * a single SQLite process holds them in memory, and the removal answers only once that memory must
 * have re-read them (`settle`); on PostgreSQL every node re-reads its block memory when it hears the
 * announcement (or, with the channel down, reads the store), so it holds everywhere from the next
 * request.
 */
export class BlockService {
  readonly #store: BlockStore;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #announce: Announce;
  readonly #settle: () => Promise<void>;

  constructor(deps: BlockServiceDeps) {
    this.#store = deps.store;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#announce = deps.announce ?? (async () => undefined);
    this.#settle = deps.settle ?? (async () => undefined);
  }

  /** The blocks active now, by rule, then kind of key, then key. */
  async list(): Promise<Block[]> {
    return this.#store.list(this.#clock.now());
  }

  /**
   * Lifts the rule's block on `key` and audits it (`block_removed`: the event's user is the blocked
   * user for a `by: user` block; `detail.by` is the rule's kind of key, as in `rate_limit_triggered`,
   * so who lifted it is `detail.removedBy`). Null when no such block is active.
   */
  async remove(rule: string, key: string, actor: AuditContext): Promise<Block | null> {
    const removed = await this.#store.remove(rule, key, this.#clock.now());
    if (removed) {
      await this.#audit.record('block_removed', { user: removed.by === 'user' ? removed.key : null, ip: actor.ip ?? null, requestId: actor.requestId ?? null }, {
        rule: removed.rule,
        by: removed.by,
        key: removed.key,
        until: new Date(removed.until).toISOString(),
        removedBy: actor.user ?? null,
      });
      await this.#announce({ type: 'changed', what: 'blocks' });
      await this.#settle();
    }
    return removed;
  }
}
