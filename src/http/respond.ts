import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { errorCodes, type ErrorCode } from '../errors/codes.js';
import { GatewayError } from '../errors/gateway-error.js';

/** Headers on every response Gatehouse itself generates (SPEC §4). */
export function generatedHeaders(https: boolean): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  // RFC 6797: HSTS is only meaningful, and only allowed, over a secure transport.
  if (https) headers['strict-transport-security'] = 'max-age=31536000';
  return Object.freeze(headers);
}

export interface Responder {
  json(res: ServerResponse, status: number, body: unknown, extra?: OutgoingHttpHeaders): void;
  empty(res: ServerResponse, status: number, extra?: OutgoingHttpHeaders): void;
  error(res: ServerResponse, error: GatewayError, extra?: OutgoingHttpHeaders): void;
  errorCode(res: ServerResponse, code: ErrorCode, extra?: OutgoingHttpHeaders): void;
  readonly base: Readonly<Record<string, string>>;
}

/** Builds response writers with the security headers compiled once. */
export function createResponder(https: boolean): Responder {
  const base = generatedHeaders(https);
  const send = (res: ServerResponse, status: number, body: string | null, extra?: OutgoingHttpHeaders): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: OutgoingHttpHeaders = { ...base, ...extra };
    if (body !== null) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = Buffer.byteLength(body);
    }
    res.writeHead(status, headers);
    res.end(body ?? undefined);
  };
  return {
    base,
    json: (res, status, body, extra) => send(res, status, JSON.stringify(body), extra),
    empty: (res, status, extra) => send(res, status, null, extra),
    error: (res, error, extra) => send(res, error.status, JSON.stringify(error.toJSON()), { ...error.headers, ...extra }),
    errorCode: (res, code, extra) => send(res, errorCodes[code].status, JSON.stringify({ error: { code, message: errorCodes[code].message } }), extra),
  };
}
