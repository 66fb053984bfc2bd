/**
 * Runs tasks one at a time per key, in arrival order, within this process. Login throttling uses
 * it so that check → verify → record is one step per account (and per client address): without
 * it, a burst of parallel wrong passwords arriving at `maxFailures - 1` would all pass the check
 * before any failure was recorded, and all reach the hasher.
 *
 * Bounded: a key is held only while a task of it runs or waits, and is forgotten as soon as its
 * last task settles, so the map holds at most the keys of in-flight tasks — and never more than
 * `maxKeys`: a task for a new key past that is refused ('busy'), not queued.
 */
export class KeyedLock {
  /** Per key, a promise that settles when the newest task queued on it has finished. */
  readonly #tails = new Map<string, Promise<void>>();
  readonly #maxKeys: number;

  constructor(maxKeys: number) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`KeyedLock: maxKeys must be a whole number of at least 1, not ${maxKeys}`);
    this.#maxKeys = maxKeys;
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * Runs `task` once every earlier task of `key` has settled, and gives its result. 'busy' (and
   * `task` not run) when `maxKeys` other keys are already held. A task that throws releases the
   * key like one that returns; the error reaches the caller.
   */
  async run<T>(key: string, task: () => Promise<T>): Promise<{ value: T } | 'busy'> {
    const previous = this.#tails.get(key);
    if (previous === undefined && this.#tails.size >= this.#maxKeys) return 'busy';
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#tails.set(key, done);
    try {
      // `previous` never rejects: every `done` is resolved in a finally.
      if (previous !== undefined) await previous;
      return { value: await task() };
    } finally {
      release();
      if (this.#tails.get(key) === done) this.#tails.delete(key);
    }
  }
}
