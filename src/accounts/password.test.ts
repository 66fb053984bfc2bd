import { parseOptions } from '@node-rs/argon2';
import { describe, expect, test } from 'vitest';
import { cryptoRandom } from '../security/random.js';
import { createDummyHash, hashPassword, passwordProblem, passwordTooLong, verifyPassword } from './password.js';

const tooShort = 'The password must be at least 12 characters long.';
const tooLong = 'The password must be at most 1024 characters long.';

describe('passwordProblem', () => {
  test.each([
    ['empty', '', tooShort],
    ['11 characters', 'a'.repeat(11), tooShort],
    ['12 characters', 'a'.repeat(12), null],
    ['1024 characters', 'a'.repeat(1024), null],
    ['1025 characters', 'a'.repeat(1025), tooLong],
    // Code points, not UTF-16 units: each emoji is one code point but two units.
    ['11 emoji (22 UTF-16 units)', '🔑'.repeat(11), tooShort],
    ['12 emoji', '🔑'.repeat(12), null],
    ['1024 emoji (2048 UTF-16 units)', '🔑'.repeat(1024), null],
    ['1025 emoji', '🔑'.repeat(1025), tooLong],
    ['spaces only, 12 of them', ' '.repeat(12), null],
  ])('%s', (_, password, expected) => {
    expect(passwordProblem(password)).toBe(expected);
  });

  test('never echoes the password', () => {
    expect(passwordProblem('hunter2')).not.toContain('hunter2');
  });

  test('a huge input is judged without walking all of it', () => {
    const huge = 'x'.repeat(20_000_000);
    const started = performance.now();
    expect(passwordProblem(huge)).toBe(tooLong);
    expect(passwordTooLong(huge)).toBe(true);
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('passwordTooLong', () => {
  test('is true from 1025 code points on', () => {
    expect(passwordTooLong('é'.repeat(1024))).toBe(false);
    expect(passwordTooLong('é'.repeat(1025))).toBe(true);
  });
});

describe('hashPassword and verifyPassword', () => {
  const password = 'correct horse battery staple';

  test('argon2id with OWASP parameters: m=19456 KiB, t=2, p=1', async () => {
    const hashed = await hashPassword(password);
    expect(hashed.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(parseOptions(hashed)).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1, saltLen: 16 });
  });

  test('verifies the right password and refuses others', async () => {
    const hashed = await hashPassword(password);
    expect(await verifyPassword(hashed, password)).toBe(true);
    expect(await verifyPassword(hashed, `${password} `)).toBe(false);
    expect(await verifyPassword(hashed, 'Correct horse battery staple')).toBe(false);
    expect(await verifyPassword(hashed, '')).toBe(false);
  });

  test('salts: the same password hashes differently each time', async () => {
    expect(await hashPassword(password)).not.toBe(await hashPassword(password));
  });

  test('the hash does not contain the password', async () => {
    expect(await hashPassword(password)).not.toContain(password);
  });

  test('a composed and a decomposed accent are the same password (NFKC)', async () => {
    const composed = 'caf\u00e9 au lait please';
    const decomposed = 'cafe\u0301 au lait please';
    expect(composed).not.toBe(decomposed);
    expect(await verifyPassword(await hashPassword(composed), decomposed)).toBe(true);
  });

  test.each([
    ['empty', ''],
    ['garbage', 'not a hash'],
    ['a truncated PHC string', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ'],
    ['another algorithm', '$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234'],
  ])('a malformed hash (%s) is false, not an exception', async (_, hashed) => {
    await expect(verifyPassword(hashed, password)).resolves.toBe(false);
  });
});

describe('createDummyHash', () => {
  test('hashes a password drawn from the injected randomness, with the same parameters', async () => {
    const dummy = await createDummyHash((size) => Buffer.alloc(size, 1));
    expect(dummy.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(await verifyPassword(dummy, Buffer.alloc(32, 1).toString('base64url'))).toBe(true);
  });

  test('each call gives a fresh hash of a fresh random password', async () => {
    const one = await createDummyHash(cryptoRandom);
    const two = await createDummyHash(cryptoRandom);
    expect(one).not.toBe(two);
    expect(await verifyPassword(one, '')).toBe(false);
  });
});
