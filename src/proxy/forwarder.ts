import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { decodableAcceptEncoding, decodeContent, responseHasContent } from './content-decoding.js';
import { isDroppedConnection, upstreamError } from './upstream-error.js';

export interface ForwarderOptions {
  /** Most sockets open to the upstream at once; unlimited by default (requests beyond it queue). */
  connections?: number;
  /** Contents (not paths) of the upstream `tls` files (SPEC §7): CA to verify it, client certificate for mTLS. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /** Longest pause between two chunks of a response body; 5 minutes by default. */
  bodyTimeout?: number;
}

export interface ForwardInput {
  method: string;
  /** Normalised, with `stripPrefix` applied; appended to the upstream URL's own path. */
  path: string;
  /** Without "?"; "" for none. Sent verbatim. */
  query: string;
  /** Already filtered and completed by `upstreamRequestHeaders`. */
  headers: Readonly<Record<string, string | string[]>>;
  /** The client's body, streamed; `null` when the request has none. */
  body: Readable | null;
  requestId: string;
  /** Abort when the client goes away: the upstream request (and its response body) is aborted too. */
  signal?: AbortSignal;
}

export interface ForwardedResponse {
  statusCode: number;
  /** As received (lower-case names), except that content codings have been decoded away. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * Must be consumed or destroyed by the caller; destroying it aborts the upstream request (and
   * never raises an unhandled 'error'). Empty for HEAD, 204 and 304.
   */
  body: Readable;
}

/** RFC 9110 §9.2.2. TRACE is idempotent too, but Gatehouse refuses it before routing. */
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Set by the interceptor when the first byte of a response to one attempt is parsed. */
interface Attempt {
  responseStarted: boolean;
}

/**
 * Sends requests to one upstream over a keep-alive pool (one per upstream, built at start-up).
 *
 * - Redirects are returned as they are, never followed (SPEC §4.4).
 * - `upstream.timeout` bounds the time from `forward()` to the response headers, whatever it is
 *   spent on (waiting for a pooled socket, connecting, the upstream thinking): 504 afterwards.
 * - One retry, only for an idempotent method without a body, and only when the connection dropped
 *   before a single byte of the response arrived (SPEC §4.4) — the stale keep-alive socket the
 *   upstream closed while we were sending. "A byte arrived" is observed exactly: undici calls
 *   `onResponseStarted` when its parser sees the first byte of a response message.
 * - Content codings are decoded (see content-decoding.ts) so the leak guard sees plaintext; the
 *   upstream is only offered codings that can be decoded.
 */
export class Forwarder {
  readonly #pool: Pool;
  readonly #dispatcher: Dispatcher;
  readonly #basePath: string;
  readonly #timeout: number;
  readonly #attempts = new WeakMap<object, Attempt>();

  constructor(upstream: UpstreamConfig, options: ForwarderOptions = {}) {
    const url = new URL(upstream.url);
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#timeout = upstream.timeout;
    this.#pool = new Pool(url.origin, {
      connections: options.connections ?? null,
      pipelining: 1,
      connectTimeout: 10_000,
      headersTimeout: upstream.timeout,
      bodyTimeout: options.bodyTimeout ?? 5 * 60_000,
      ...(options.tls ? { connect: { ...options.tls } } : {}),
    });
    const attempts = this.#attempts;
    this.#dispatcher = this.#pool.compose((dispatch) => (opts, handler) => {
      const attempt = attempts.get(opts);
      return dispatch(opts, attempt ? observeResponseStart(handler, attempt) : handler);
    });
  }

  async forward(input: ForwardInput): Promise<ForwardedResponse> {
    // One controller for both the deadline and the client going away: AbortSignal.any costs a
    // few percent of the hot path on Node 20 and has had retention bugs (nodejs/node#48419).
    const controller = new AbortController();
    const signal = controller.signal;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeout);
    const clientSignal = input.signal;
    const clientGone = (): void => controller.abort();
    if (clientSignal) {
      if (clientSignal.aborted) controller.abort();
      else clientSignal.addEventListener('abort', clientGone, { once: true });
    }
    const retryable = input.body === null && idempotentMethods.has(input.method);
    const path = `${this.#basePath}${input.path}${input.query === '' ? '' : `?${input.query}`}`;
    const headers: Record<string, string | string[]> = { ...input.headers, 'x-request-id': input.requestId };
    const acceptEncoding = decodableAcceptEncoding(headers['accept-encoding']);
    if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;

    let response: Dispatcher.ResponseData;
    try {
      for (let attemptNumber = 1; ; attemptNumber++) {
        const options = { path, method: input.method as Dispatcher.HttpMethod, headers, body: input.body, signal };
        const attempt: Attempt = { responseStarted: false };
        this.#attempts.set(options, attempt);
        try {
          response = await this.#dispatcher.request(options);
          break;
        } catch (error) {
          if (retryable && attemptNumber === 1 && !attempt.responseStarted && !signal.aborted && isDroppedConnection(error)) continue;
          throw upstreamError(error, { timedOut, clientAborted: clientSignal?.aborted ?? false });
        }
      }
    } finally {
      // The client's abort stays wired: if it goes away while the body streams, the upstream
      // request is aborted too. Its controller is per request, so nothing outlives the request.
      clearTimeout(timer);
    }
    // undici's body emits an AbortError when destroyed unfinished; a caller that destroys it on
    // purpose (a leak, a client gone) must not crash the process for want of a listener. Errors
    // still reach whoever reads it (for await, pipeline).
    let body: Readable = response.body.on('error', noop);
    if (hasTransferCoding(response.headers['transfer-encoding'])) {
      // undici removes only the chunked framing; a gzip transfer-coding would reach the client
      // still compressed, hiding the secret from the leak guard. Nobody sends one in practice.
      body.destroy();
      throw new GatewayError('upstream_unavailable', { message: 'The upstream answered with a transfer-coding Gatehouse does not relay.' });
    }
    if (!responseHasContent(input.method, response.statusCode)) {
      // Nothing to relay by definition. undici also fails a 304 that carries the (allowed, RFC 9110
      // §8.6) Content-Length of the representation; its empty stream is drained and ignored.
      body.resume();
      body = Readable.from([], { objectMode: false });
    }
    return decodeContent(input.method, { statusCode: response.statusCode, headers: response.headers, body });
  }

  /** Stops accepting requests and resolves once in-flight ones have finished and sockets are closed. */
  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** Wraps a dispatch handler to note when the first response byte of an attempt arrives. */
function observeResponseStart(handler: Dispatcher.DispatchHandler, attempt: Attempt): Dispatcher.DispatchHandler {
  return {
    onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
    onRequestUpgrade: (controller, statusCode, headers, socket) => handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
    onResponseStarted: () => {
      attempt.responseStarted = true;
      handler.onResponseStarted?.();
    },
    onResponseStart: (controller, statusCode, headers, statusMessage) => handler.onResponseStart?.(controller, statusCode, headers, statusMessage),
    onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
    onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
    onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
  };
}

function noop(): void {}

/** A transfer-coding other than chunked (RFC 9112 §7): gzip, deflate, compress. */
function hasTransferCoding(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const codings = (Array.isArray(value) ? value.join(',') : value).split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  return codings.some((c) => c !== 'chunked');
}
