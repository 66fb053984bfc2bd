import { refusalReasons, type RefusalReason } from '../reasons.js';

/** The status, headers and JSON body every middleware answers a refused request with. */
export function refusal(reason: RefusalReason): { status: number; headers: Record<string, string>; body: string } {
  const { status, message } = refusalReasons[reason];
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  };
  // RFC 9110 §15.5.2: a 401 carries a challenge; the scheme names the header to send.
  if (status === 401) headers['www-authenticate'] = `Gatehouse-Assertion error="${reason}"`;
  return { status, headers, body: JSON.stringify({ error: { code: reason, message } }) };
}

/** The part of node's `ServerResponse` (and so of Express's and Connect's) a refusal needs. */
export interface ResponseLike {
  writeHead(statusCode: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

export function writeRefusal(res: ResponseLike, reason: RefusalReason): void {
  const { status, headers, body } = refusal(reason);
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
