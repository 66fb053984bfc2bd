import type { RandomBytes } from '../security/random.js';
import { sha256Hex } from '../security/hash.js';

/** How many recovery codes an enrolment issues (SPEC §4.5: "10 strings"). */
export const recoveryCodeCount = 10;

/**
 * Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or copied by hand is not
 * misread (https://www.crockford.com/base32.html). 32 symbols: each carries exactly 5 bits.
 */
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const groups = 3;
const groupLength = 5;
const codeLength = groups * groupLength;

/**
 * 15 symbols × 5 bits = 75 bits per code. The store keeps only a fast SHA-256 of each code, so the
 * entropy is what resists an offline search of a stolen database: 2^75 guesses at 10^10 hashes per
 * second is over 100,000 years (the 50 bits of a 10-character code would fall in days).
 */
export const recoveryCodeBits = codeLength * 5;

/** Fresh codes for display (three dash-separated groups of five) and, in the same order, the hashes to store. */
export function issueRecoveryCodes(random: RandomBytes, count: number = recoveryCodeCount): { codes: string[]; hashes: string[] } {
  const codes = generateRecoveryCodes(random, count);
  return {
    codes,
    hashes: codes.map((code) => {
      const hash = hashRecoveryCode(code);
      if (hash === null) throw new Error('a generated recovery code does not read back as one');
      return hash;
    }),
  };
}

/** Distinct fresh codes, formatted for display as three dash-separated groups of five characters. */
export function generateRecoveryCodes(random: RandomBytes, count: number = recoveryCodeCount): string[] {
  const codes = new Set<string>();
  while (codes.size < count) {
    const bytes = random(codeLength);
    if (bytes.length !== codeLength) throw new Error(`the random source returned ${bytes.length} bytes instead of ${codeLength}`);
    // 256 is a multiple of 32, so taking the low 5 bits of a uniform byte is uniform: no modulo bias.
    const symbols = [...bytes].map((byte) => alphabet.charAt(byte & 31)).join('');
    const grouped: string[] = [];
    for (let i = 0; i < codeLength; i += groupLength) grouped.push(symbols.slice(i, i + groupLength));
    codes.add(grouped.join('-'));
  }
  return [...codes];
}

/**
 * What a typed code means: case-insensitive, spaces and dashes ignored, and the letters Crockford
 * base32 reads as digits (O → 0, I and L → 1) mapped. Null when it cannot be a code, so no store
 * lookup is spent on it.
 */
export function normaliseRecoveryCode(input: string): string | null {
  if (input.length > 64) return null;
  const compact = input.replace(/[\s-]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  if (compact.length !== codeLength) return null;
  for (const symbol of compact) if (!alphabet.includes(symbol)) return null;
  return compact;
}

/** What the store keeps for a code (displayed or typed form): SHA-256 hex of its normal form. */
export function hashRecoveryCode(code: string): string | null {
  const normal = normaliseRecoveryCode(code);
  return normal === null ? null : sha256Hex(normal);
}
