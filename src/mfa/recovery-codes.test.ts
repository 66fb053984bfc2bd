import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../security/hash.js';
import { cryptoRandom } from '../security/random.js';
import { generateRecoveryCodes, hashRecoveryCode, issueRecoveryCodes, normaliseRecoveryCode, recoveryCodeBits } from './recovery-codes.js';

describe('recovery codes', () => {
  test('carry at least 75 bits: 15 symbols of a 32-symbol alphabet', () => {
    expect(recoveryCodeBits).toBeGreaterThanOrEqual(75);
    const [code] = generateRecoveryCodes(cryptoRandom, 1);
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
  });

  test('use every symbol of the alphabet and no other (no modulo bias from the byte mapping)', () => {
    const seen = new Set(generateRecoveryCodes(cryptoRandom, 200).join('').replace(/-/g, ''));
    expect([...seen].sort().join('')).toBe('0123456789ABCDEFGHJKMNPQRSTVWXYZ');
  });

  test('are distinct even when the random source repeats itself', () => {
    let calls = 0;
    // The first two draws are equal; the generator must draw again rather than repeat a code.
    const repeating = (size: number): Buffer => Buffer.alloc(size, calls++ < 2 ? 7 : calls);
    expect(new Set(generateRecoveryCodes(repeating, 3)).size).toBe(3);
  });

  test('hashes are SHA-256 of the normal form, in the order of the codes', () => {
    const { codes, hashes } = issueRecoveryCodes(cryptoRandom);
    expect(codes).toHaveLength(10);
    expect(hashes).toEqual(codes.map((code) => sha256Hex(code.replace(/-/g, ''))));
  });

  test('typed forms normalise: case, spaces, dashes, and O/I/L read as 0/1/1', () => {
    expect(normaliseRecoveryCode('abcde-fghjk-mnpqr')).toBe('ABCDEFGHJKMNPQR');
    expect(normaliseRecoveryCode(' abcde fghjk\tmnpqr ')).toBe('ABCDEFGHJKMNPQR');
    expect(normaliseRecoveryCode('o0iL1-00000-11111')).toBe('001110000011111');
    expect(hashRecoveryCode('OOOOO-IIIII-LLLLL')).toBe(hashRecoveryCode('00000-11111-11111'));
  });

  test('anything else is not a code', () => {
    for (const bad of ['', 'ABCDE-FGHJK', 'ABCDE-FGHJK-MNPQRS', 'ABCDE-FGHJK-MNPQU', 'ABCDE_FGHJK_MNPQR', 'ÄBCDE-FGHJK-MNPQR', '-'.repeat(100)]) {
      expect(normaliseRecoveryCode(bad)).toBeNull();
      expect(hashRecoveryCode(bad)).toBeNull();
    }
  });
});
