/**
 * The store did not answer: it is down, unreachable, or slower than `store.timeout` (SPEC §8). Not
 * a verdict on the request: the HTTP layer answers 503 `store_unavailable` with Retry-After (never
 * 401, so an outage logs nobody out), the CLI exits 1. The message names no URL, host or password;
 * `reason` is the driver's error code, for logs.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'store_unavailable';
  readonly reason: string;

  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(`the store did not answer (${reason})`, options);
    this.name = 'StoreUnavailableError';
    this.reason = reason;
  }
}
