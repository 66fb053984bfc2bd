import { GatewayError } from '../errors/gateway-error.js';

/** undici codes for "no response headers in time" (connect included: nothing answered at all). */
const timeoutCodes: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Errors that are ours or the client's, not the upstream's: passed through unchanged. */
const notUpstreamCodes: ReadonlySet<string> = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
]);

/**
 * The connection dropped under a request (a stale keep-alive socket closed by the upstream is the
 * common case). Only these are worth one retry: a refusal or a TLS failure would fail again.
 */
const droppedConnectionCodes: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export function isDroppedConnection(error: unknown): boolean {
  return droppedConnectionCodes.has(errorCode(error));
}

/**
 * Maps a failure to reach the upstream onto SPEC §4.4's codes: no headers within the timeout →
 * `upstream_timeout`; refused, reset, DNS, TLS and every other transport failure →
 * `upstream_unavailable`. The registry message is used, so the upstream's address (which undici
 * puts in its messages) never reaches a client; the original error is kept as `cause` for logs.
 * A `GatewayError` (e.g. the request body cut at `maxBodySize`), a client abort, and argument
 * errors are returned unchanged.
 */
export function upstreamError(error: unknown, context: { timedOut: boolean; clientAborted: boolean }): unknown {
  if (error instanceof GatewayError || context.clientAborted) return error;
  if (context.timedOut) return new GatewayError('upstream_timeout', { cause: error });
  const code = errorCode(error);
  if (timeoutCodes.has(code)) return new GatewayError('upstream_timeout', { cause: error });
  if (notUpstreamCodes.has(code)) return error;
  return new GatewayError('upstream_unavailable', { cause: error });
}

function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}
