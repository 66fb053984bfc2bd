import { describe, expect, it } from 'vitest';
import { cryptoRandom, handleLeadingAlphabet, newHandle, newToken, requestIdSource } from './random.js';

describe('random ids', () => {
  it('session tokens are 256-bit base64url', () => {
    expect(newToken(cryptoRandom)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('request ids come from a pooled buffer, 96 bits each, all distinct, refilled when used up', () => {
    let calls = 0;
    const next = requestIdSource((size) => {
      calls += 1;
      return cryptoRandom(size);
    });
    const ids = Array.from({ length: 1000 }, () => next());
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(calls).toBe(4);
  });

  it('handles are 12 characters and never start with "-" (a command line would read an option)', () => {
    for (let i = 0; i < 5000; i += 1) expect(newHandle(cryptoRandom)).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{11}$/);
  });

  it('every letter and digit can lead a handle, each from the same number of byte values', () => {
    const leading = new Map<string, number>();
    for (let byte = 0; byte < 256; byte += 1) {
      // The leading character comes from the first of the 8 candidate bytes below 248.
      const handle = newHandle((size) => Buffer.alloc(size, byte));
      if (byte < 248) leading.set(handle[0]!, (leading.get(handle[0]!) ?? 0) + 1);
      expect(handle[0]).toMatch(/[A-Za-z0-9]/);
    }
    expect([...leading.keys()].sort().join('')).toBe([...handleLeadingAlphabet].sort().join(''));
    expect(new Set(leading.values())).toEqual(new Set([4]));
  });
});
