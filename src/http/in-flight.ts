/**
 * Requests still being answered with one generation of the configuration (SPEC §11, reload): the
 * parts they started with (upstream pools above all) are retired only once the last one has ended.
 */
export class InFlight {
  #open = 0;
  #idle: Array<() => void> = [];

  enter(): void {
    this.#open++;
  }

  leave(): void {
    if (--this.#open > 0) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const run of waiting) run();
  }

  /** Resolves once no request of this generation is in flight (at once if none is). */
  idle(): Promise<void> {
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
