/**
 * The hit times of one key, oldest first, in a ring buffer: appending a hit and forgetting the
 * oldest are O(1) and allocate nothing once the ring has grown to the size the key needs. Hits are
 * kept in time order even when a caller's `now` is a little behind the newest hit (two requests
 * that read the clock in one order and reach the store in the other), so the first hit inside a
 * window can be found by binary search.
 */
/**
 * What a log starts with, so a key that is only ever blocked, or is about to grow, costs no
 * ArrayBuffer of its own. Shared safely: a zero-length array has nothing to write to.
 */
const noTimes = new Float64Array(0);

export class HitLog {
  #times: Float64Array;
  #head = 0;
  #size = 0;

  constructor(capacity = 0) {
    this.#times = capacity === 0 ? noTimes : new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#times.length;
  }

  /** The i-th hit, oldest first (0 <= i < size). */
  at(i: number): number {
    const j = this.#head + i;
    const capacity = this.#times.length;
    return this.#times[j < capacity ? j : j - capacity]!;
  }

  /** The index of the first hit later than `cutoff` (the window (cutoff, ...]): `size` when none. */
  firstAfter(cutoff: number): number {
    return this.#search(cutoff, false);
  }

  /** The index of the first hit at or after `time`, which is how many hits are older than it. */
  firstNotBefore(time: number): number {
    return this.#search(time, true);
  }

  /** Records a hit at `time`, keeping time order. The caller makes room first (size < capacity). */
  insert(time: number): void {
    const capacity = this.#times.length;
    if (this.#size >= capacity) throw new Error('HitLog.insert without room');
    let i = this.#size;
    // Shift the (rare, few) hits later than `time` one slot towards the tail.
    while (i > 0 && this.at(i - 1) > time) {
      this.#set(i, this.at(i - 1));
      i -= 1;
    }
    this.#set(i, time);
    this.#size += 1;
  }

  /** Forgets the `count` oldest hits. */
  dropOldest(count: number): void {
    const n = Math.min(count, this.#size);
    const capacity = this.#times.length;
    const head = this.#head + n;
    this.#head = head < capacity ? head : head - capacity;
    this.#size -= n;
    if (this.#size === 0) this.#head = 0;
  }

  /** Moves the hits to a ring of `capacity` slots (at least `size`). */
  resize(capacity: number): void {
    if (capacity < this.#size) throw new Error('HitLog.resize below its size');
    const times = new Float64Array(capacity);
    for (let i = 0; i < this.#size; i += 1) times[i] = this.at(i);
    this.#times = times;
    this.#head = 0;
  }

  /** Binary search for the first hit later than `bound` (or equal to it, when `inclusive`). */
  #search(bound: number, inclusive: boolean): number {
    let low = 0;
    let high = this.#size;
    // The usual case first: every hit still inside (no closure, no allocation: this is the hot path).
    if (high === 0 || this.at(0) > bound || (inclusive && this.at(0) === bound)) return 0;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const time = this.at(middle);
      if (time > bound || (inclusive && time === bound)) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  #set(i: number, time: number): void {
    const j = this.#head + i;
    const capacity = this.#times.length;
    this.#times[j < capacity ? j : j - capacity] = time;
  }
}
