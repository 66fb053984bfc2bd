import { describe, expect, it } from 'vitest';
import { cryptoRandom, newToken, requestIdSource } from './random.js';

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
});
