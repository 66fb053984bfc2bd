import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';

/** Auth endpoints take small JSON bodies; anything bigger is not a login. */
const authBodyLimit = 64 * 1024;

/**
 * Reads a JSON body and validates it. Every way it can be wrong is a 4xx with a sentence that names
 * the field — never a 500 — and the message never echoes a value (it could be a password).
 */
export async function readJson<T>(req: IncomingMessage, schema: z.ZodType<T>, maxBodySize: number): Promise<T> {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !/^application\/json\s*(;|$)/i.test(type)) throw new GatewayError('unsupported_media_type');
  const limit = Math.min(maxBodySize, authBodyLimit);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new GatewayError('payload_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new GatewayError('payload_too_large');
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new GatewayError('bad_request', { message: 'The request body is not valid JSON.' });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'body';
    throw new GatewayError('bad_request', { message: `The field "${field}" is missing or has the wrong type.` });
  }
  return result.data;
}
