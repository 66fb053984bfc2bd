import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorCodes, type ErrorCode } from '../errors/codes.js';
import { errorBody } from '../errors/gateway-error.js';

/**
 * Answers on a bare socket, for the cases Node handles before any request object exists, then
 * closes the connection: after a framing error nothing more on it can be trusted.
 */
export function writeRawError(socket: Socket, code: ErrorCode, requestId: string, baseHeaders: Readonly<Record<string, string>>, message?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = errorCodes[code].status;
  const body = errorBody(code, message);
  const headers = { ...baseHeaders, 'x-request-id': requestId, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`);
}

/**
 * Node's parser (llhttp, strict mode) refuses malformed framing before any handler runs: conflicting
 * Content-Length/Transfer-Encoding, bare LF, obs-fold, whitespace before a colon (RFC 9112 §5.1,
 * §6.3, §11.2 — request smuggling). Oversized heads are HPE_HEADER_OVERFLOW → 431.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket, requestId: string, baseHeaders: Readonly<Record<string, string>>): void {
  // A response already under way on this socket cannot be replaced by another.
  if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') writeRawError(socket, 'headers_too_large', requestId, baseHeaders);
  else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') writeRawError(socket, 'request_timeout', requestId, baseHeaders);
  else writeRawError(socket, 'bad_request', requestId, baseHeaders, 'The request is not valid HTTP.');
}
