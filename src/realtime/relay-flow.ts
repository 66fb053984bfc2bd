import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * Bytes queued in the gateway towards one peer above which the relay stops reading from the other.
 * With the message size limit this bounds what one direction of a socket holds: the mark, plus
 * the message that crossed it, plus what was already parsed from one read of the sender (ws
 * emits every message of a chunk it has read; pausing stops the next read).
 */
export const defaultHighWaterMark = 1024 * 1024;
/**
 * How long the queue towards a peer that is behind may go without shrinking before its socket is
 * closed: a reader that never drains would otherwise hold the queue (and the sender's TCP window)
 * forever. The queue shrinks when a write completes, and Node merges writes queued behind one in
 * flight, so in effect what waits (the mark and a message or so) must leave within this time.
 */
export const defaultStallTimeoutMs = 30_000;

export interface FlowLimits {
  highWaterMark: number;
  stallTimeoutMs: number;
}

const binary = { binary: true } as const;
const text = { binary: false } as const;

/**
 * One direction of the relay with backpressure (ws's `send` queues without bound). A message that
 * takes the destination's queue (`bufferedAmount`) over the high-water mark is sent with a write
 * callback and the source is paused — TCP flow control then stops its sender — until that callback
 * finds the queue back under the mark. Writes complete in order, so the callback of the last
 * message sent is the moment everything before it has left too. A destination whose queue does not
 * shrink for `stallTimeoutMs` is reported to `stalled`, once.
 *
 * Writes are coalesced: ws writes each message to its socket at once (a writev system call per
 * message), and ws emits every message of one read in the same tick, so the destination's
 * connection (`wire`, the socket ws writes to) is corked on the first and uncorked on the next tick:
 * one system call per read instead of one per message, and no message waits for a later event.
 */
export class MessageFlow {
  readonly #from: WebSocket;
  readonly #to: WebSocket;
  readonly #wire: Duplex | null;
  readonly #limits: FlowLimits;
  readonly #stalled: () => void;
  #paused = false;
  #stopped = false;
  #stallTimer: NodeJS.Timeout | null = null;
  #queuedAtCheck = 0;
  #corked = false;
  #pauses = 0;

  constructor(from: WebSocket, to: WebSocket, wire: Duplex | null, limits: FlowLimits, stalled: () => void) {
    this.#from = from;
    this.#to = to;
    this.#wire = wire;
    this.#limits = limits;
    this.#stalled = stalled;
  }

  /** Whether the source is paused because the destination is behind (it cannot answer pings then). */
  get paused(): boolean {
    return this.#paused;
  }

  /** How many times the source was paused so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /** Whether a message was already forwarded in this tick (so in the same read of the source). */
  get batching(): boolean {
    return this.#corked;
  }

  /** Sends one message to the destination; pauses the source when the destination is behind. */
  forward(data: Buffer, isBinary: boolean): void {
    const to = this.#to;
    if (!this.#corked && this.#wire !== null) {
      this.#corked = true;
      this.#wire.cork();
      process.nextTick(this.#uncork);
    }
    if (to.bufferedAmount + data.length <= this.#limits.highWaterMark) {
      to.send(data, isBinary ? binary : text);
      return;
    }
    to.send(data, isBinary ? binary : text, this.#written);
    if (this.#paused || this.#stopped) return;
    this.#paused = true;
    this.#pauses++;
    this.#from.pause();
    this.#armStallTimer();
  }

  /** The relay ended: no more pausing, and the source is read again so its close frame is seen. */
  stop(): void {
    this.#stopped = true;
    if (this.#paused) this.#resume();
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#wire!.uncork();
  };

  readonly #written = (error?: Error | null): void => {
    // An error is the socket's own 'error'/'close', which ends the relay.
    if (error || !this.#paused) return;
    if (this.#to.bufferedAmount <= this.#limits.highWaterMark) this.#resume();
  };

  #resume(): void {
    this.#paused = false;
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
    this.#from.resume();
  }

  #armStallTimer(): void {
    this.#queuedAtCheck = this.#to.bufferedAmount;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = null;
      if (!this.#paused || this.#stopped) return;
      // Progress (the queue shrank) re-arms the bound; a queue that did not move is a stall.
      if (this.#to.bufferedAmount < this.#queuedAtCheck) this.#armStallTimer();
      else this.#stalled();
    }, this.#limits.stallTimeoutMs);
    this.#stallTimer.unref();
  }
}
