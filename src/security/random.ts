import { randomBytes as nodeRandomBytes } from 'node:crypto';

/** Randomness, injected so tests can make it deterministic where they need to. */
export type RandomBytes = (size: number) => Buffer;

export const cryptoRandom: RandomBytes = (size) => nodeRandomBytes(size);

/** A 256-bit opaque token, base64url: the session id that lives only in the cookie. */
export function newToken(random: RandomBytes): string {
  return random(32).toString('base64url');
}

/** A short, non-secret handle (e.g. a session's id in lists and the CLI). */
export function newHandle(random: RandomBytes): string {
  return random(9).toString('base64url');
}

/**
 * Request ids drawn from a pooled random buffer: one OpenSSL call per 256 requests instead of one
 * per request (every request pays for its id). Ids are not secrets, so pooling costs nothing.
 */
export function requestIdSource(random: RandomBytes): () => string {
  const size = 12;
  const batch = 256;
  let pool = random(size * batch);
  let offset = 0;
  return () => {
    if (offset === pool.length) {
      pool = random(size * batch);
      offset = 0;
    }
    const id = pool.toString('base64url', offset, offset + size);
    offset += size;
    return id;
  };
}
