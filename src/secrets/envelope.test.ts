import { describe, expect, test } from 'vitest';
import { cryptoRandom, type RandomBytes } from '../security/random.js';
import { open, seal, SealError, sealedKeyId } from './envelope.js';
import { keyIdOf, type Keyring } from './keyring.js';
import { keyringOf } from '../../test/helpers/keyring.js';

const keyA = Buffer.alloc(32, 0xa1);
const keyB = Buffer.alloc(32, 0xb2);
const ring = keyringOf(keyA);
const aad = 'secret:weather-token';

/** Runs `fn`, expects a SealError, returns its message. */
function sealError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    expect((error as SealError).code).toBe('seal');
    return (error as SealError).message;
  }
  throw new Error('expected a SealError');
}

/** Flips the lowest bit of the first byte of part `index` (2 nonce, 3 ciphertext, 4 tag). */
function flipBit(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index] ?? '', 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

const tampered = 'the sealed value failed authentication: it was altered, or it belongs to another name';
const badFormat = 'the sealed value is not in a format this Gatehouse knows';

describe('seal and open', () => {
  test('round trip of a string and of bytes', () => {
    expect(open(ring, aad, seal(ring, aad, 'tok_live_123', cryptoRandom)).toString('utf8')).toBe('tok_live_123');
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    expect(open(ring, aad, seal(ring, aad, bytes, cryptoRandom))).toEqual(bytes);
    expect(open(ring, aad, seal(ring, aad, 'ünïcødé ✓ 🔑', cryptoRandom)).toString('utf8')).toBe('ünïcødé ✓ 🔑');
  });

  test('round trip of an empty value', () => {
    expect(open(ring, aad, seal(ring, aad, '', cryptoRandom))).toEqual(Buffer.alloc(0));
  });

  test('the format is v1.<keyId>.<nonce>.<ciphertext>.<tag>, base64url, with a 12-byte nonce and a 16-byte tag', () => {
    const sealed = seal(ring, aad, 'abc', cryptoRandom);
    expect(sealed).toMatch(/^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{4}\.[A-Za-z0-9_-]{22}$/);
    expect(sealed.split('.')[1]).toBe(keyIdOf(keyA));
    expect(sealedKeyId(sealed)).toBe(keyIdOf(keyA));
  });

  test('the nonce comes from the injected randomness, 12 bytes of it', () => {
    const sizes: number[] = [];
    const random: RandomBytes = (size) => {
      sizes.push(size);
      return Buffer.alloc(size, 7);
    };
    const sealed = seal(ring, aad, 'abc', random);
    expect(sizes).toEqual([12]);
    expect(sealed.split('.')[2]).toBe(Buffer.alloc(12, 7).toString('base64url'));
  });

  test('the same plaintext sealed twice differs (random nonce)', () => {
    const one = seal(ring, aad, 'same', cryptoRandom);
    const two = seal(ring, aad, 'same', cryptoRandom);
    expect(one).not.toBe(two);
    expect(one.split('.')[2]).not.toBe(two.split('.')[2]);
  });

  test('refuses a random source that returns the wrong size', () => {
    expect(() => seal(ring, aad, 'x', () => Buffer.alloc(8))).toThrow('the random source returned 8 bytes instead of 12');
  });

  test('the ciphertext does not contain the plaintext', () => {
    const plaintext = 'tok_live_0123456789abcdef';
    const sealed = seal(ring, aad, plaintext, cryptoRandom);
    expect(sealed).not.toContain(plaintext);
    expect(Buffer.from(sealed.split('.')[3] ?? '', 'base64url').toString('latin1')).not.toContain(plaintext);
  });

  describe('tampering is refused', () => {
    const sealed = seal(ring, aad, 'tok_live_123', cryptoRandom);

    test.each([['nonce', 2], ['ciphertext', 3], ['tag', 4]])('a flipped bit in the %s', (_, index) => {
      expect(sealError(() => open(ring, aad, flipBit(sealed, index)))).toBe(tampered);
    });

    test('another aad: a value moved to another name', () => {
      expect(sealError(() => open(ring, 'secret:other-token', sealed))).toBe(tampered);
      expect(sealError(() => open(ring, '', sealed))).toBe(tampered);
    });

    test('a truncated ciphertext', () => {
      const parts = sealed.split('.');
      parts[3] = Buffer.from(parts[3] ?? '', 'base64url').subarray(1).toString('base64url');
      expect(sealError(() => open(ring, aad, parts.join('.')))).toBe(tampered);
    });

    test('a key id switched to another configured key', () => {
      const both = keyringOf(keyA, keyB);
      const switched = sealed.replace(keyIdOf(keyA), keyIdOf(keyB));
      expect(sealError(() => open(both, aad, switched))).toBe(tampered);
    });

    test('the wrong key under the right id', () => {
      const forged: Keyring = { primary: { id: keyIdOf(keyA), key: keyB }, keys: new Map([[keyIdOf(keyA), keyB]]) };
      expect(sealError(() => open(forged, aad, sealed))).toBe(tampered);
    });

    test('a key that is not configured', () => {
      expect(sealError(() => open(keyringOf(keyB), aad, sealed))).toBe(
        `the value was sealed under a master key that is not configured (key id ${keyIdOf(keyA)})`,
      );
    });
  });

  test.each([
    ['empty', ''],
    ['another version', 'v2.0011223344556677.AAAAAAAAAAAAAAAA.YWJj.AAAAAAAAAAAAAAAAAAAAAA'],
    ['too few parts', 'v1.0011223344556677.AAAAAAAAAAAAAAAA.YWJj'],
    ['too many parts', 'v1.0011223344556677.AAAAAAAAAAAAAAAA.YWJj.AAAAAAAAAAAAAAAAAAAAAA.x'],
    ['an upper-case key id', 'v1.00112233445566FF.AAAAAAAAAAAAAAAA.YWJj.AAAAAAAAAAAAAAAAAAAAAA'],
    ['a short nonce', 'v1.0011223344556677.AAAAAAAAAAAA.YWJj.AAAAAAAAAAAAAAAAAAAAAA'],
    ['a short tag', 'v1.0011223344556677.AAAAAAAAAAAAAAAA.YWJj.AAAAAAAAAAAAAAAAAAAA'],
    ['standard base64 characters', 'v1.0011223344556677.AAAAAAAAAAAAAAA+.YWJj.AAAAAAAAAAAAAAAAAAAAAA'],
    ['a non-canonical encoding', 'v1.0011223344556677.AAAAAAAAAAAAAAAA.YWJj.AAAAAAAAAAAAAAAAAAAAAB'],
    ['plain text', 'tok_live_123'],
  ])('an unknown format is refused without echoing it: %s', (_, sealed) => {
    expect(sealError(() => open(ring, aad, sealed))).toBe(badFormat);
    expect(sealError(() => sealedKeyId(sealed))).toBe(badFormat);
  });

  test('after rotation, the old key still opens and the new one seals', () => {
    const old = seal(keyringOf(keyA), aad, 'value', cryptoRandom);
    const rotated = keyringOf(keyB, keyA);
    expect(open(rotated, aad, old).toString()).toBe('value');
    const resealed = seal(rotated, aad, 'value', cryptoRandom);
    expect(sealedKeyId(resealed)).toBe(keyIdOf(keyB));
    expect(sealError(() => open(keyringOf(keyA), aad, resealed))).toContain('not configured');
  });
});
