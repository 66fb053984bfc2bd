import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import { readBody } from './read-body.js';

/** Auth endpoints take small JSON bodies; anything bigger is not a login. */
const authBodyLimit = 64 * 1024;

/**
 * Reads a JSON body and validates it. Every way it can be wrong is a 4xx with a sentence that names
 * the field — never a 500 — and the message never echoes a value (it could be a password).
 */
export async function readJson<T>(req: IncomingMessage, schema: z.ZodType<T>, maxBodySize: number): Promise<T> {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !/^application\/json\s*(;|$)/i.test(type)) throw new GatewayError('unsupported_media_type');
  const body = await readBody(req, Math.min(maxBodySize, authBodyLimit));
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
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
