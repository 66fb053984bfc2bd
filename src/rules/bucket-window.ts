/**
 * How many buckets a window is cut into. A hit is counted until the whole bucket it fell in has
 * left the window, so it is forgotten at most `windowMs / windowBuckets` later than an exact
 * sliding window would forget it (1/60 of the window: 1 s of a minute, 10 s of 10 minutes).
 * docs/decisions/0002-rate-window.md has the measurements behind the number and the proof.
 */
export const windowBuckets = 60;

/** A key's window when it holds nothing. Shared safely: a zero-length array has nothing to write to. */
const noEntries = new Float64Array(0);

/**
 * The counts of one key in a sliding window of `windowMs`, in constant memory: time is cut into
 * buckets of `windowMs / windowBuckets`, and a key keeps one count per bucket that has hits, at
 * most `windowBuckets + 1` of them (the newest, and the `windowBuckets` before it), whatever its
 * `max` and its traffic (SPEC §5).
 *
 * The window at time `now` is the bucket `now` falls in and the `windowBuckets` before it. They
 * cover (now - windowMs, now] and up to one bucket more: the oldest is counted whole even when only
 * part of it is inside. So a count is never below the exact count of (now - windowMs, now], and
 * never above the exact count of (now - windowMs - windowMs / windowBuckets, now]. A `take` that
 * allows only while that count is below `max` therefore never lets more than `max` through in any
 * window of `windowMs`, and refuses at most one bucket early (the proof is in
 * docs/decisions/0002-rate-window.md).
 *
 * Clocks: the window only moves forward. A call whose `now` falls before the key's newest bucket
 * (another worker read the clock first and committed second; the system clock stepped back) is
 * counted, and its hit recorded, in that newest bucket: a hit may be kept a little longer than its
 * own time would say, never shorter, so clock order cannot let an extra request in.
 *
 * The entries are a ring of (bucket index, count) pairs, oldest first, grown by doubling up to
 * `windowBuckets + 1`: a key with a few hits costs a few pairs, a busy key at most 61 (976 bytes).
 * Bucket indices count buckets of `windowMs / windowBuckets` since the epoch, computed as
 * floor(now × windowBuckets / windowMs): exact for whole-millisecond windows and times while that
 * product stays well below 2^53 (until the year 6000 or so).
 */
export class BucketWindow {
  readonly windowMs: number;
  /** (bucket, count) pairs: entry i is at 2 × ((first + i) mod capacity). */
  #entries: Float64Array = noEntries;
  #first = 0;
  #size = 0;
  #total = 0;
  /** The newest bucket the window has reached; -Infinity before the first call. */
  #head = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  /** The hits counted in the window as of the last `advance`. */
  get total(): number {
    return this.#total;
  }

  /** The newest bucket reached, -Infinity when none. */
  get head(): number {
    return this.#head;
  }

  /** Bytes held for the counts (the ring's capacity), whatever the traffic: for tests and metrics. */
  get bytes(): number {
    return this.#entries.byteLength;
  }

  /** The bucket `time` falls in. */
  bucketOf(time: number): number {
    return Math.floor((time * windowBuckets) / this.windowMs);
  }

  /** The first whole millisecond of bucket `bucket`. */
  startOf(bucket: number): number {
    return Math.ceil((bucket * this.windowMs) / windowBuckets);
  }

  /**
   * Moves the window to `now`, or keeps it at its newest bucket when that is later, and forgets the
   * buckets that have left it.
   */
  advance(now: number): void {
    const bucket = this.bucketOf(now);
    if (bucket > this.#head) this.#head = bucket;
    const oldest = this.#head - windowBuckets;
    while (this.#size > 0 && this.#bucketAt(0) < oldest) {
      this.#total -= this.#hitsAt(0);
      this.#first = this.#first + 1 === this.#capacity ? 0 : this.#first + 1;
      this.#size -= 1;
    }
    if (this.#size === 0) {
      this.#first = 0;
      this.#total = 0;
    }
  }

  /** Counts one hit in the newest bucket (call `advance` first). */
  record(): void {
    this.#add(this.#head, 1);
  }

  /**
   * The hits the window counts at `now`, without moving it there: what a read sees. Equal to
   * `total` after `advance(now)`.
   */
  countAt(now: number): number {
    let count = this.#total;
    for (let i = 0, first = this.#firstAt(now); i < first; i += 1) count -= this.#hitsAt(i);
    return count;
  }

  /**
   * When the window, read at `now`, will next hold fewer than `max` hits if nothing else is
   * counted: the moment the bucket holding the oldest hit that must go has left it. Null when it
   * already holds fewer. Exact for this window: one millisecond earlier it still holds `max`.
   */
  retryAt(max: number, now: number): number | null {
    const first = this.#firstAt(now);
    let count = this.#total;
    for (let i = 0; i < first; i += 1) count -= this.#hitsAt(i);
    if (count < max) return null;
    let dropped = 0;
    for (let i = first; i < this.#size; i += 1) {
      dropped += this.#hitsAt(i);
      if (count - dropped < max) return this.#leavesAt(this.#bucketAt(i));
    }
    throw new Error('BucketWindow: the counts do not add up to the total');
  }

  /** When every counted hit has left the window (the key can then be forgotten); -Infinity when empty. */
  get expiresAt(): number {
    return this.#size === 0 ? Number.NEGATIVE_INFINITY : this.#leavesAt(this.#bucketAt(this.#size - 1));
  }

  /** The (bucket, count) pairs, oldest first: for the SQLite encoding. */
  *entries(): Generator<[bucket: number, count: number]> {
    for (let i = 0; i < this.#size; i += 1) yield [this.#bucketAt(i), this.#hitsAt(i)];
  }

  /**
   * A window rebuilt from stored parts: its newest bucket and its (bucket, count) pairs, oldest
   * first. Pairs outside the window of `head` are left out.
   */
  static restore(windowMs: number, head: number, entries: Iterable<[bucket: number, count: number]>): BucketWindow {
    const window = new BucketWindow(windowMs);
    window.#head = head;
    for (const [bucket, count] of entries) {
      if (bucket >= head - windowBuckets && bucket <= head && count > 0) window.#add(bucket, count);
    }
    return window;
  }

  /**
   * The hits of `previous` (a window of another length, as left by a rule whose `per` changed)
   * carried into a new window of `windowMs`, as if they had all come at the later of `now` and the
   * start of `previous`'s newest bucket: they are kept at least as long as either window would
   * have kept them, so a shorter `per` cannot free a key early. `previous` is left as it was.
   */
  static carriedOver(previous: BucketWindow, windowMs: number, now: number): BucketWindow {
    const window = new BucketWindow(windowMs);
    window.advance(Math.max(now, previous.startOf(previous.head)));
    const count = previous.countAt(now);
    if (count > 0) window.#add(window.#head, count);
    return window;
  }

  /** The first entry still in the window at `now` (the window never moves back past its head). */
  #firstAt(now: number): number {
    const oldest = Math.max(this.#head, this.bucketOf(now)) - windowBuckets;
    let i = 0;
    while (i < this.#size && this.#bucketAt(i) < oldest) i += 1;
    return i;
  }

  get #capacity(): number {
    return this.#entries.length / 2;
  }

  /** When `bucket` leaves the window: the first millisecond whose bucket is windowBuckets + 1 later. */
  #leavesAt(bucket: number): number {
    return this.startOf(bucket + windowBuckets + 1);
  }

  #slot(i: number): number {
    const j = this.#first + i;
    const capacity = this.#capacity;
    return 2 * (j < capacity ? j : j - capacity);
  }

  #bucketAt(i: number): number {
    return this.#entries[this.#slot(i)]!;
  }

  #hitsAt(i: number): number {
    return this.#entries[this.#slot(i) + 1]!;
  }

  /** Adds `count` hits to `bucket`, which is the newest entry's bucket or later. */
  #add(bucket: number, count: number): void {
    this.#total += count;
    if (this.#size > 0 && this.#bucketAt(this.#size - 1) === bucket) {
      const slot = this.#slot(this.#size - 1) + 1;
      this.#entries[slot] = this.#entries[slot]! + count;
      return;
    }
    if (this.#size === this.#capacity) this.#grow();
    const slot = this.#slot(this.#size);
    this.#entries[slot] = bucket;
    this.#entries[slot + 1] = count;
    this.#size += 1;
  }

  /** Doubles the ring (from 2 pairs), never past windowBuckets + 1: more can never be in a window. */
  #grow(): void {
    const capacity = Math.min(windowBuckets + 1, Math.max(2, this.#capacity * 2));
    if (capacity <= this.#size) throw new Error('BucketWindow: more buckets than a window holds');
    const entries = new Float64Array(2 * capacity);
    for (let i = 0; i < this.#size; i += 1) {
      entries[2 * i] = this.#bucketAt(i);
      entries[2 * i + 1] = this.#hitsAt(i);
    }
    this.#entries = entries;
    this.#first = 0;
  }
}

/**
 * The window a key is counted in for a window of `windowMs`: `existing` itself, or, when its
 * length differs (a rule's `per` changed), a new window its hits are carried into (for the caller
 * to keep if it writes), or a new empty one. Nothing is moved: reads (`countAt`, `retryAt`) never
 * change a window, only a write's `advance` does, so every adapter gives a read the same answer.
 */
export function windowFor(existing: BucketWindow | null, windowMs: number, now: number): BucketWindow {
  if (existing === null) return new BucketWindow(windowMs);
  return existing.windowMs === windowMs ? existing : BucketWindow.carriedOver(existing, windowMs, now);
}

/** A window is a whole number of milliseconds, at least 1 (so bucket indices stay exact). */
export function checkWindow(windowMs: number): void {
  if (!Number.isInteger(windowMs) || windowMs < 1) throw new RangeError(`the window must be a whole number of milliseconds of at least 1, not ${windowMs}`);
}

export function checkMax(max: number): void {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`take: max must be a whole number of at least 1, not ${max}`);
}
