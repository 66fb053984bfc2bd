import { randomBytes as nodeRandomBytes } from 'node:crypto';

/** Randomness, injected so tests can make it deterministic where they need to. */
export type RandomBytes = (size: number) => Buffer;

export const cryptoRandom: RandomBytes = (size) => nodeRandomBytes(size);

/** A 256-bit opaque token, base64url: the session id that lives only in the cookie. */
export function newToken(random: RandomBytes): string {
  return random(32).toString('base64url');
}

/** What a handle may start with: a letter or a digit, never "-" (a command line would read an option). */
export const handleLeadingAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Bytes at or above this are refused for the leading character: 248 = 4 × 62 keeps it unbiased. */
const leadingLimit = 4 * handleLeadingAlphabet.length;

/**
 * A short, non-secret handle (a session's id in lists, the CLI, `sid`): 12 characters, about 72 bits.
 * The first is a letter or digit, so the handle can be typed back as printed (`gatehouse session
 * revoke -67XAKwsMjmU` would be read as an unknown option); the other 11 are base64url (66 bits).
 */
export function newHandle(random: RandomBytes): string {
  const bytes = random(9 + 8);
  // Rejection sampling over 8 candidate bytes; all 8 above the limit (odds 2^-40) falls back to a
  // modulo, whose bias on one such handle in a trillion does not matter for a non-secret handle.
  let leading = bytes.subarray(9).find((b) => b < leadingLimit) ?? bytes[9]!;
  leading %= handleLeadingAlphabet.length;
  return handleLeadingAlphabet[leading] + bytes.subarray(0, 9).toString('base64url').slice(1);
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
