import { hash, verify, type Algorithm } from '@node-rs/argon2';
import type { RandomBytes } from '../security/random.js';

/** SPEC §2: at least 12 and at most 1024 Unicode code points. */
export const minPasswordLength = 12;
export const maxPasswordLength = 1024;

/**
 * `Algorithm.Argon2id`. The package declares Algorithm as a `const enum` whose runtime object is
 * empty, so code not compiled by tsc (tests, bundlers) would read `undefined`: write the value out.
 */
const argon2id: Algorithm = 2;

/**
 * argon2id at the OWASP Password Storage Cheat Sheet's baseline: "a minimum configuration of 19 MiB
 * of memory, an iteration count of 2, and 1 degree of parallelism".
 * https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id
 */
const argon2Options = {
  algorithm: argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/** Code points of `text`, counting no further than `limit + 1` so a huge input costs nothing. */
function codePointsUpTo(text: string, limit: number): number {
  let count = 0;
  for (const _ of text) {
    count += 1;
    if (count > limit) break;
  }
  return count;
}

/** True when the password is over the maximum length, without walking all of a huge input. */
export function passwordTooLong(password: string): boolean {
  return codePointsUpTo(password, maxPasswordLength) > maxPasswordLength;
}

/** Why the password is not acceptable, as one sentence; null when it is. */
export function passwordProblem(password: string): string | null {
  const length = codePointsUpTo(password, maxPasswordLength);
  if (length < minPasswordLength) return `The password must be at least ${minPasswordLength} characters long.`;
  if (length > maxPasswordLength) return `The password must be at most ${maxPasswordLength} characters long.`;
  return null;
}

/**
 * NFKC, so the same password typed on systems that compose characters differently (é as one code
 * point or as e + accent) still matches: NIST SP 800-63B §5.1.1.2 says verifiers SHOULD normalise.
 */
function normalise(password: string): string {
  return password.normalize('NFKC');
}

/** An argon2id PHC string for the password, with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  return hash(normalise(password), argon2Options);
}

/** Whether the password matches the hash; false (never an exception) for a malformed hash. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, normalise(password));
  } catch {
    return false;
  }
}

/**
 * A hash of a random password nobody knows, with the same parameters as real ones. Verifying
 * against it costs what verifying a real user's hash costs, so a login for an unknown user takes as
 * long as one for a known user (OWASP Authentication Cheat Sheet, "Authentication Responses").
 * Callers create one and keep it; there is no process-wide copy.
 */
export async function createDummyHash(random: RandomBytes): Promise<string> {
  return hashPassword(random(32).toString('base64url'));
}
