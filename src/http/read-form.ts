import type { IncomingMessage } from 'node:http';
import { readBody } from './read-body.js';

/** A form posted server to server (a logout token is a few kilobytes). */
const formBodyLimit = 64 * 1024;

/**
 * Reads an `application/x-www-form-urlencoded` body; null when the request is not one (the caller
 * says what that means for it). Too large: 413, as for JSON bodies.
 */
export async function readForm(req: IncomingMessage, maxBodySize: number): Promise<URLSearchParams | null> {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) return null;
  const body = await readBody(req, Math.min(maxBodySize, formBodyLimit));
  return new URLSearchParams(body.toString('utf8'));
}
