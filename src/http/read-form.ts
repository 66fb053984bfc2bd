import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors/gateway-error.js';

/** A form posted server to server (a logout token is a few kilobytes). */
const formBodyLimit = 64 * 1024;

/**
 * Reads an `application/x-www-form-urlencoded` body; null when the request is not one (the caller
 * says what that means for it). Too large: 413, as for JSON bodies.
 */
export async function readForm(req: IncomingMessage, maxBodySize: number): Promise<URLSearchParams | null> {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) return null;
  const limit = Math.min(maxBodySize, formBodyLimit);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new GatewayError('payload_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new GatewayError('payload_too_large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
