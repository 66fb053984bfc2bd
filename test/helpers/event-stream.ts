import { request, type IncomingMessage } from 'node:http';

/**
 * A test's event-stream client on a bare node:http request, so that what it sees is what the
 * gateway sent, as soon as it was sent: each complete event (text up to a blank line) is recorded
 * when its last byte arrives. Every wait is bounded and fails naming what did not arrive.
 */
export class EventStreamClient {
  readonly events: string[] = [];
  /** Every byte received, for "no fragment of the secret" checks. */
  raw = '';
  response: IncomingMessage | null = null;
  ended = false;
  /** The connection was cut (or reset) rather than ended with the chunked terminator. */
  cut = false;
  #pending = '';
  #waiters: (() => void)[] = [];
  readonly #request;

  constructor(url: string, options: { session?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
    if (options.session !== undefined) headers.cookie = `gatehouse=${options.session}`;
    this.#request = request(url, { headers });
    this.#request.on('response', (res) => {
      this.response = res;
      this.#wake();
      res.on('data', (chunk: Buffer) => {
        this.raw += chunk.toString('latin1');
        this.#pending += chunk.toString('utf8');
        for (let end = this.#pending.indexOf('\n\n'); end !== -1; end = this.#pending.indexOf('\n\n')) {
          this.events.push(this.#pending.slice(0, end));
          this.#pending = this.#pending.slice(end + 2);
        }
        this.#wake();
      });
      res.on('end', () => {
        this.ended = true;
        this.#wake();
      });
      res.on('aborted', () => {
        this.cut = true;
        this.#wake();
      });
      res.on('error', () => {
        this.cut = true;
        this.#wake();
      });
      res.on('close', () => {
        if (!res.complete) this.cut = true;
        this.#wake();
      });
    });
    this.#request.on('error', () => {
      this.cut = true;
      this.#wake();
    });
    this.#request.end();
  }

  /** Resolves once `condition` holds; rejects with `what` after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`${what} (waited ${timeoutMs} ms)`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      this.#waiters.push(check);
    });
  }

  headers(): Promise<IncomingMessage> {
    return this.until(() => this.response !== null, 'the response headers did not reach the client').then(() => this.response!);
  }

  /** The n-th event (1-based), once it has arrived whole. */
  async event(n: number, timeoutMs?: number): Promise<string> {
    await this.until(() => this.events.length >= n, `event ${n} did not reach the client`, timeoutMs);
    return this.events[n - 1]!;
  }

  closed(timeoutMs?: number): Promise<void> {
    return this.until(() => this.ended || this.cut, 'the stream was not closed', timeoutMs);
  }

  destroy(): void {
    this.#request.destroy();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
