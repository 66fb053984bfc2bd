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

/** A request id: unique enough to correlate logs, not a secret. */
export function newRequestId(random: RandomBytes): string {
  return random(12).toString('base64url');
}
