import { createHash, hash, timingSafeEqual } from 'node:crypto';

/** SHA-256 hex of a token: what the store keeps instead of the token (lucia, OWASP session cheat sheet). */
export function sha256Hex(value: string | Buffer): string {
  // The one-shot crypto.hash (Node 20.12+) skips the Hash object: a third of createHash's cost.
  return hash('sha256', value, 'hex');
}

/** Constant-time equality of two strings; lengths are compared through their digests. */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
