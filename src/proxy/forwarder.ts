import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { assertionHeader } from '../trust/assertion.js';
import { decodableAcceptEncoding, decodeContent, responseHasContent } from './content-decoding.js';
import { isDroppedConnection, upstreamError } from './upstream-error.js';

export interface ForwarderOptions {
  /** Most sockets open to the upstream at once; unlimited by default (requests beyond it queue). */
  connections?: number;
  /** Contents (not paths) of the upstream `tls` files (SPEC §7): CA to verify it, client certificate for mTLS. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * Longest pause between two chunks of a response body; 5 minutes by default. Not for an event
   * stream (`text/event-stream`), which may rightly stay quiet for as long as it likes (SPEC §10).
   */
  bodyTimeout?: number;
  /**
   * Responses of known length up to this many bytes, without a content coding, are collected whole;
   * 64 KiB by default. Never an event stream: each event must reach the client as it arrives.
   */
  wholeBodyBytes?: number;
}

export interface ForwardInput {
  method: string;
  /** Normalised, with `stripPrefix` applied; appended to the upstream URL's own path. */
  path: string;
  /** Without "?"; "" for none. Sent verbatim. */
  query: string;
  /**
   * Already filtered and completed by `upstreamRequestHeaders`. Handed over: the forwarder sets
   * `x-request-id`, narrows `accept-encoding` and sets `gatehouse-assertion` in this object rather
   * than copying it.
   */
  headers: Record<string, string | string[]>;
  /**
   * For an upstream with `assertion: true`: signs a Gatehouse-Assertion, called before each attempt
   * so that a retry carries its own `jti` (SPEC §7: unique) and an upstream with a replay cache
   * does not refuse it as a replay of the first attempt, which may have reached it. Absent: nothing
   * is signed.
   */
  assertion?: (() => Promise<string>) | null;
  /** The client's body, streamed; `null` when the request has none. */
  body: Readable | null;
  requestId: string;
  /** Cancel when the client goes away: the upstream request (and its response body) is aborted too. */
  cancel?: Cancellation;
}

export interface ForwardedResponse {
  statusCode: number;
  /** As received (lower-case names), except that content codings have been decoded away. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * A `Buffer` when the response arrived whole: no content (HEAD, 204, 304), or a declared
   * `Content-Length` of at most `wholeBodyBytes` and no content coding — typical API JSON, which
   * then costs no stream at all. Otherwise a stream that must be consumed or destroyed by the
   * caller; destroying it aborts the upstream request (and never raises an unhandled 'error').
   */
  body: Buffer | Readable;
}

/**
 * Lets a caller abandon a forward, e.g. when the client goes away. An AbortController and its
 * listener cost ~4 µs per request on Node 20; this is a flag and one callback.
 */
export class Cancellation {
  #reason: Error | null = null;
  #listener: ((reason: Error) => void) | null = null;

  get cancelled(): boolean {
    return this.#reason !== null;
  }

  cancel(reason: Error = clientGone()): void {
    if (this.#reason) return;
    this.#reason = reason;
    const listener = this.#listener;
    this.#listener = null;
    listener?.(reason);
  }

  /** The forwarder's hook: one listener at a time, called at most once; null detaches it. */
  listen(listener: ((reason: Error) => void) | null): void {
    if (listener && this.#reason) {
      listener(this.#reason);
      return;
    }
    this.#listener = listener;
  }
}

function clientGone(): Error {
  return Object.assign(new Error('The client went away.'), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** RFC 9110 §9.2.2. TRACE is idempotent too, but Gatehouse refuses it before routing. */
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Responses of known length up to this size are collected whole (see ForwardedResponse.body). */
const defaultWholeBodyBytes = 64 * 1024;

const emptyBody: Buffer = Buffer.alloc(0);

/**
 * Sends requests to one upstream over a keep-alive pool (one per upstream, built at start-up).
 *
 * - Redirects are returned as they are, never followed (SPEC §4.4).
 * - `upstream.timeout` bounds the time from `forward()` to the response headers, whatever it is
 *   spent on (waiting for a pooled socket, connecting, the upstream thinking): 504 afterwards.
 * - One retry, only for an idempotent method without a body, and only when the connection dropped
 *   before a single byte of the response arrived (SPEC §4.4) — the stale keep-alive socket the
 *   upstream closed while we were sending. "A byte arrived" is observed exactly: undici calls
 *   `onResponseStarted` when its parser sees the first byte of a response message. The retry
 *   carries a freshly signed assertion, if the upstream takes one.
 * - Content codings are decoded (see content-decoding.ts) so the leak guard sees plaintext; the
 *   upstream is only offered codings that can be decoded.
 *
 * It drives undici's `dispatch` with its own handler (one object per request): no `request()`
 * promise, `BodyReadable` or async resource, and no stream at all for a small whole body.
 */
export class Forwarder {
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #timeout: number;
  readonly #bodyTimeout: number;
  readonly #wholeBodyBytes: number;

  constructor(upstream: UpstreamConfig, options: ForwarderOptions = {}) {
    const url = new URL(upstream.url);
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#timeout = upstream.timeout;
    this.#wholeBodyBytes = options.wholeBodyBytes ?? defaultWholeBodyBytes;
    this.#bodyTimeout = options.bodyTimeout ?? 5 * 60_000;
    this.#pool = new Pool(url.origin, {
      connections: options.connections ?? null,
      pipelining: 1,
      connectTimeout: 10_000,
      headersTimeout: upstream.timeout,
      // undici arms its body timeout before the handler sees the Content-Type, so it could not be
      // lifted for event streams: the Exchange keeps it instead.
      bodyTimeout: 0,
      ...(options.tls ? { connect: { ...options.tls } } : {}),
    });
  }

  forward(input: ForwardInput): Promise<ForwardedResponse> {
    const headers = input.headers;
    headers['x-request-id'] = input.requestId;
    const acceptEncoding = decodableAcceptEncoding(headers['accept-encoding']);
    if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;
    const options: Dispatcher.DispatchOptions = {
      path: `${this.#basePath}${input.path}${input.query === '' ? '' : `?${input.query}`}`,
      method: input.method as Dispatcher.HttpMethod,
      headers,
      body: input.body,
    };
    return new Promise((resolve, reject) => {
      new Exchange(this.#pool, options, input, this.#timeout, this.#bodyTimeout, this.#wholeBodyBytes, resolve, reject).start();
    });
  }

  /** Stops accepting requests and resolves once in-flight ones have finished and sockets are closed. */
  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/**
 * One forwarded request: undici's dispatch handler (its callbacks are the methods below), the
 * deadline, the single retry, and the response as a whole Buffer or a stream.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #pool: Pool;
  readonly #options: Dispatcher.DispatchOptions;
  readonly #input: ForwardInput;
  readonly #wholeBodyBytes: number;
  readonly #bodyTimeout: number;
  readonly #resolve: (response: ForwardedResponse) => void;
  readonly #reject: (error: unknown) => void;
  readonly #timer: NodeJS.Timeout;
  /** Longest pause between two body chunks, from the headers on; none for an event stream. */
  #bodyTimer: NodeJS.Timeout | null = null;
  #controller: Dispatcher.DispatchController | null = null;
  /** Why the exchange is being abandoned (deadline or client), applied as soon as there is a controller. */
  #abortReason: Error | null = null;
  #timedOut = false;
  #attempt = 1;
  #responseStarted = false;
  #settled = false;
  #statusCode = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  /** Whole-body mode: the chunks so far. */
  #chunks: Buffer[] | null = null;
  #bytes = 0;
  /** Stream mode: the body handed to the caller. */
  #stream: UpstreamBody | null = null;

  constructor(
    pool: Pool,
    options: Dispatcher.DispatchOptions,
    input: ForwardInput,
    timeout: number,
    bodyTimeout: number,
    wholeBodyBytes: number,
    resolve: (response: ForwardedResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#pool = pool;
    this.#options = options;
    this.#input = input;
    this.#wholeBodyBytes = wholeBodyBytes;
    this.#bodyTimeout = bodyTimeout;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#abort(Object.assign(new Error('No response headers within the upstream timeout.'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
    }, timeout);
  }

  start(): void {
    this.#input.cancel?.listen((reason) => this.#abort(reason));
    // Cancelled before it began (the client had already gone): nothing to send.
    if (this.#settled) return;
    this.#dispatch();
  }

  /** Sends one attempt, with its own assertion when the upstream takes one. */
  #dispatch(): void {
    const sign = this.#input.assertion;
    if (!sign) {
      this.#pool.dispatch(this.#options, this);
      return;
    }
    sign().then((assertion) => {
      // Abandoned while signing (deadline or client): #abort has answered already.
      if (this.#settled) return;
      this.#input.headers[assertionHeader] = assertion;
      this.#pool.dispatch(this.#options, this);
    }, (error: unknown) => {
      clearTimeout(this.#timer);
      this.#fail(error);
    });
  }

  #abort(reason: Error): void {
    if (this.#stream) {
      this.#stream.destroy(reason);
      return;
    }
    this.#abortReason ??= reason;
    if (this.#controller) {
      this.#controller.abort(reason);
      return;
    }
    // Still queued for a pooled socket: answer now; undici drops the request when its turn comes.
    clearTimeout(this.#timer);
    this.#fail(upstreamError(reason, { timedOut: this.#timedOut, clientAborted: this.#input.cancel?.cancelled ?? false }));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason) controller.abort(this.#abortReason);
  }

  onResponseStarted(): void {
    this.#responseStarted = true;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: informational, the final response follows
    clearTimeout(this.#timer);
    this.#statusCode = statusCode;
    this.#headers = headers;
    const method = this.#input.method;
    if (hasTransferCoding(headers['transfer-encoding'])) {
      // undici removes only the chunked framing; a gzip transfer-coding would reach the client
      // still compressed, hiding the secret from the leak guard. Nobody sends one in practice.
      this.#fail(new GatewayError('upstream_unavailable', { message: 'The upstream answered with a transfer-coding Gatehouse does not relay.' }));
      controller.abort(new Error('transfer-coding refused'));
      return;
    }
    if (!responseHasContent(method, statusCode)) {
      // Nothing to relay by definition; whatever undici still reports for this response (it fails
      // a 304 that carries the — allowed, RFC 9110 §8.6 — Content-Length of the representation) is
      // ignored once settled.
      this.#settle(decodeContent(method, { statusCode, headers, body: emptyBody }));
      return;
    }
    const eventStream = isEventStream(headers['content-type']);
    if (!eventStream && this.#bodyTimeout > 0) this.#bodyTimer = setTimeout(() => this.#bodyTimedOut(controller), this.#bodyTimeout);
    const length = headers['content-length'];
    if (!eventStream && headers['content-encoding'] === undefined && typeof length === 'string' && Number(length) <= this.#wholeBodyBytes) {
      this.#chunks = [];
      return;
    }
    const stream = new UpstreamBody(controller);
    stream.on('error', noop);
    this.#stream = stream;
    try {
      this.#settle(decodeContent(method, { statusCode, headers, body: stream }));
    } catch (error) {
      this.#fail(error);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bodyTimer?.refresh();
    if (this.#chunks) {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
      return;
    }
    if (this.#stream && !this.#stream.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#stopBodyTimer();
    this.#detach();
    const chunks = this.#chunks;
    if (chunks) {
      this.#chunks = null;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#bytes);
      this.#settle({ statusCode: this.#statusCode, headers: this.#headers, body });
      return;
    }
    this.#stream?.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#stopBodyTimer();
    if (this.#stream) {
      this.#detach();
      this.#stream.destroy(error);
      return;
    }
    const input = this.#input;
    const retryable = this.#attempt === 1 && input.body === null && idempotentMethods.has(input.method)
      && !this.#responseStarted && this.#abortReason === null && this.#statusCode === 0;
    if (retryable && isDroppedConnection(error)) {
      this.#attempt = 2;
      this.#controller = null;
      this.#dispatch();
      return;
    }
    this.#detach();
    clearTimeout(this.#timer);
    if (input.body && !input.body.destroyed) input.body.on('error', noop).destroy(error);
    this.#fail(upstreamError(error, { timedOut: this.#timedOut, clientAborted: input.cancel?.cancelled ?? false }));
  }

  /**
   * No body bytes for `bodyTimeout`: cut, as undici would have (UND_ERR_BODY_TIMEOUT). Not while
   * the caller holds the response paused: a slow client is not a stalled upstream.
   */
  #bodyTimedOut(controller: Dispatcher.DispatchController): void {
    if (controller.paused) {
      this.#bodyTimer?.refresh();
      return;
    }
    this.#bodyTimer = null;
    this.#abort(Object.assign(new Error('No response body data within the body timeout.'), { code: 'UND_ERR_BODY_TIMEOUT' }));
  }

  #stopBodyTimer(): void {
    if (this.#bodyTimer === null) return;
    clearTimeout(this.#bodyTimer);
    this.#bodyTimer = null;
  }

  #settle(response: ForwardedResponse): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(response);
  }

  #fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#detach();
    this.#reject(error);
  }

  /** The exchange is over: a later cancel has nothing left to abort. */
  #detach(): void {
    if (!this.#stream) this.#input.cancel?.listen(null);
  }
}

/**
 * A response body too large (or of unknown length, or encoded) to collect: fed by the handler,
 * paused when its buffer is full, and destroying it aborts the upstream request.
 */
class UpstreamBody extends Readable {
  readonly #controller: Dispatcher.DispatchController;
  #ended = false;

  constructor(controller: Dispatcher.DispatchController) {
    super({ highWaterMark: 64 * 1024 });
    this.#controller = controller;
  }

  finish(): void {
    this.#ended = true;
    this.push(null);
  }

  override _read(): void {
    this.#controller.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#controller.abort(error ?? Object.assign(new Error('The response body was abandoned.'), { code: 'UND_ERR_ABORTED' }));
    }
    callback(error);
  }
}

function noop(): void {}

/** `text/event-stream` (WHATWG HTML §9.2), whatever its parameters and case. */
export function isEventStream(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string') return false;
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase() === 'text/event-stream';
}

/** A transfer-coding other than chunked (RFC 9112 §7): gzip, deflate, compress. */
function hasTransferCoding(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const codings = (Array.isArray(value) ? value.join(',') : value).split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  return codings.some((c) => c !== 'chunked');
}
