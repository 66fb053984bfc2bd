import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 hex of a token: what the store keeps instead of the token (lucia, OWASP session cheat sheet). */
export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time equality of two strings; lengths are compared through their digests. */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
