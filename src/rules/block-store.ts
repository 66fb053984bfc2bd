import type { LimitConfig } from '../config/schema.js';

/** What a block's key is: the `by` of the rule that set it. */
export type BlockedBy = LimitConfig['by'];

/**
 * A rate-rule block (SPEC §5, `action: block`). `key` is the client address, the session's
 * non-secret handle (never its id, nor the id's hash) or the user name, so it can be shown by
 * `gatehouse block list` and typed back into `gatehouse block remove`.
 */
export interface Block {
  /** The name of the rule that set it. */
  rule: string;
  by: BlockedBy;
  key: string;
  /** When it ends, in milliseconds since the epoch. */
  until: number;
}

/**
 * Where rate-rule blocks are kept: in the store every process and node shares, so a block set by
 * one worker is enforced by all, lasts across restarts (SPEC §8), and `gatehouse block remove`
 * lifts it everywhere on the very next request. Times are passed in (the clock is injected).
 */
export interface BlockStore {
  /**
   * Blocks `key` for `rule` until `until`, in one atomic step: of two blocks of one rule on one key
   * the later end wins, whichever is written first.
   */
  add(block: Block): Promise<void>;
  /** When the latest block on this key (of any rule blocking by `by`) ends; null when none is active at `now`. */
  blockedUntil(by: BlockedBy, key: string, now: number): Promise<number | null>;
  /**
   * The same answer without a promise, from an implementation that holds the blocks in memory
   * (rules/block-memory.ts) and can answer at once; undefined when it cannot (not loaded, a re-read
   * pending, not trusted): then ask `blockedUntil`. The proxy's hot path asks this first.
   */
  blockedUntilNow?(by: BlockedBy, key: string, now: number): number | null | undefined;
  /** The blocks active at `now`, by rule, then kind of key, then key. */
  list(now: number): Promise<Block[]>;
  /** Lifts the rule's block on `key`; returns it, or null when there was none active at `now`. */
  remove(rule: string, key: string, now: number): Promise<Block | null>;
  /** Deletes the blocks that have ended at `now` (housekeeping); returns how many. */
  purge(now: number): Promise<number>;
}
