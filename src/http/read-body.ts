import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors/gateway-error.js';

/**
 * Reads a whole request body of at most `limit` bytes. Over it: 413, refused on the declared
 * Content-Length before anything is read, or as soon as the bytes received pass it (a chunked
 * body declares nothing).
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new GatewayError('payload_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new GatewayError('payload_too_large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
