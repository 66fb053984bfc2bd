import { pipeline, Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { GatewayError } from '../errors/gateway-error.js';

/**
 * Content codings (RFC 9110 §8.4.1) are removed before a response reaches the browser, because
 * the leak guard (SPEC §4.4) must see the plaintext: a secret inside a gzip stream is invisible to
 * a byte search, and the browser would inflate it. A coding Gatehouse cannot decode is therefore
 * never relayed, and the upstream is only ever offered codings Gatehouse can decode.
 *
 * `deflate` is the zlib format (RFC 9110 §8.4.1.2); the raw-deflate streams a few old servers send
 * instead fail to decode and cut the response.
 */
const decoders: ReadonlyMap<string, () => Transform> = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);

/**
 * The client's `Accept-Encoding` restricted to codings Gatehouse can decode (q-values kept);
 * `identity` when none is left. `undefined` when the client sent none (servers then answer
 * unencoded in practice; anything else they send is refused by `decodeContent`).
 */
export function decodableAcceptEncoding(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const kept: string[] = [];
  for (const item of (typeof value === 'string' ? value : value.join(',')).split(',')) {
    const coding = item.split(';', 1)[0]!.trim().toLowerCase();
    if (decoders.has(coding) || coding === 'identity') kept.push(item.trim());
  }
  return kept.length > 0 ? kept.join(', ') : 'identity';
}

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  /** A Buffer when the body arrived whole (see forwarder.ts). */
  body: Buffer | Readable;
}

/** Header fields that describe the encoded bytes and are wrong once they are decoded. */
const encodedOnlyHeaders = ['content-encoding', 'content-length', 'content-md5', 'content-digest', 'repr-digest'] as const;

/**
 * The response with its content codings removed: the body piped through the decoders (in reverse
 * order of application, RFC 9110 §8.4), and the headers that described the encoded bytes
 * dropped. A strong ETag becomes weak, since it named the encoded representation (RFC 9110
 * §8.8.3). Responses without content (HEAD, 204, 304, 1xx) only lose the headers.
 *
 * Throws `upstream_unavailable` (after discarding the body) for a coding that cannot be decoded,
 * and for a partial (206) encoded response, which cannot be decoded on its own.
 */
export function decodeContent(method: string, response: UpstreamResponse): UpstreamResponse {
  const encoding = response.headers['content-encoding'];
  if (encoding === undefined) return response;
  const codings = (typeof encoding === 'string' ? encoding : encoding.join(','))
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');

  const headers = { ...response.headers };
  if (codings.length === 0) {
    delete headers['content-encoding'];
    return { ...response, headers };
  }
  if (!codings.every((coding) => decoders.has(coding)) || response.statusCode === 206) {
    if (!Buffer.isBuffer(response.body)) response.body.on('error', noop).destroy();
    throw new GatewayError('upstream_unavailable', { message: 'The upstream response is encoded in a way the gateway cannot inspect.' });
  }

  for (const name of encodedOnlyHeaders) delete headers[name];
  const etag = headers['etag'];
  if (typeof etag === 'string' && etag.startsWith('"')) headers['etag'] = `W/${etag}`;

  if (!responseHasContent(method, response.statusCode)) return { ...response, headers };

  const stages = codings.reverse().map((coding) => decoders.get(coding)!());
  // pipeline() destroys every stage when any fails or the consumer destroys the last one, so a
  // client that goes away also aborts the upstream request.
  const source = Buffer.isBuffer(response.body) ? Readable.from([response.body]) : response.body;
  const body = (pipeline as (...streams: unknown[]) => Readable)(source, ...stages, noop);
  return { ...response, headers, body };
}

/** RFC 9110 §6.4.1: responses to HEAD, and 1xx, 204 and 304 responses, never have content. */
export function responseHasContent(method: string, statusCode: number): boolean {
  return method !== 'HEAD' && statusCode >= 200 && statusCode !== 204 && statusCode !== 304;
}

function noop(): void {}
