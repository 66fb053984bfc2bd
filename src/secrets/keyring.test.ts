import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { cryptoRandom, type RandomBytes } from '../security/random.js';
import { keyIdOf, loadKeyring, MasterKeyError } from './keyring.js';

const keyA = Buffer.alloc(32, 0xa1);
const keyB = Buffer.alloc(32, 0xb2);
const b64 = (key: Buffer): string => key.toString('base64');

/** Runs `fn`, expects a MasterKeyError, returns it. */
function masterKeyError(fn: () => unknown): MasterKeyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MasterKeyError);
    expect((error as MasterKeyError).code).toBe('master_key');
    return error as MasterKeyError;
  }
  throw new Error('expected a MasterKeyError');
}

describe('keyIdOf', () => {
  test('is the first 8 bytes of the SHA-256 of the key, hex', () => {
    expect(keyIdOf(keyA)).toBe(createHash('sha256').update(keyA).digest('hex').slice(0, 16));
    expect(keyIdOf(keyA)).not.toBe(keyIdOf(keyB));
  });
});

describe('loadKeyring', () => {
  let dir: string;
  const noCreate = { create: false, env: {}, random: cryptoRandom };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-keyring-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('reads a key from a file, whitespace trimmed', () => {
    const path = join(dir, 'master.key');
    writeFileSync(path, `  ${b64(keyA)}\r\n\n`);
    const keyring = loadKeyring([`file:${path}`], noCreate);
    expect(keyring.primary).toEqual({ id: keyIdOf(keyA), key: keyA });
    expect([...keyring.keys]).toEqual([[keyIdOf(keyA), keyA]]);
  });

  test('reads a key from an environment variable', () => {
    const keyring = loadKeyring(['env:GH_KEY'], { ...noCreate, env: { GH_KEY: b64(keyB) } });
    expect(keyring.primary.key).toEqual(keyB);
  });

  test('accepts a key without its base64 padding', () => {
    const keyring = loadKeyring(['env:GH_KEY'], { ...noCreate, env: { GH_KEY: b64(keyB).replace(/=$/, '') } });
    expect(keyring.primary.key).toEqual(keyB);
  });

  test('the first source is the primary; every source can decrypt', () => {
    const path = join(dir, 'old.key');
    writeFileSync(path, b64(keyA));
    const keyring = loadKeyring(['env:NEW_KEY', `file:${path}`], { ...noCreate, env: { NEW_KEY: b64(keyB) } });
    expect(keyring.primary.id).toBe(keyIdOf(keyB));
    expect(keyring.keys.get(keyIdOf(keyA))).toEqual(keyA);
    expect(keyring.keys.get(keyIdOf(keyB))).toEqual(keyB);
    expect(keyring.keys.size).toBe(2);
  });

  test('the same key listed twice is one key', () => {
    const keyring = loadKeyring(['env:A', 'env:B'], { ...noCreate, env: { A: b64(keyA), B: `${b64(keyA)}\n` } });
    expect(keyring.keys.size).toBe(1);
  });

  describe('creating the first file', () => {
    const fixedRandom: RandomBytes = (size) => Buffer.alloc(size, 0x5c);

    test('creates a missing first file with a fresh key: folder 0700, file 0600, no temp file left', () => {
      const path = join(dir, 'data', 'keys', 'master.key');
      const keyring = loadKeyring([`file:${path}`], { create: true, env: {}, random: fixedRandom });
      expect(keyring.primary.key).toEqual(Buffer.alloc(32, 0x5c));
      expect(readFileSync(path, 'utf8')).toBe(`${b64(Buffer.alloc(32, 0x5c))}\n`);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
      expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
      expect(readdirSync(dirname(path))).toEqual(['master.key']);
    });

    test('the created key loads again, unchanged, on the next start', () => {
      const path = join(dir, 'master.key');
      const first = loadKeyring([`file:${path}`], { create: true, env: {}, random: cryptoRandom });
      const second = loadKeyring([`file:${path}`], { create: true, env: {}, random: cryptoRandom });
      expect(second.primary).toEqual(first.primary);
    });

    test('never overwrites an existing file', () => {
      const path = join(dir, 'master.key');
      writeFileSync(path, b64(keyA));
      const keyring = loadKeyring([`file:${path}`], { create: true, env: {}, random: fixedRandom });
      expect(keyring.primary.key).toEqual(keyA);
      expect(readFileSync(path, 'utf8')).toBe(b64(keyA));
    });

    test('when another process creates the file meanwhile, its key wins and ours is discarded', () => {
      const path = join(dir, 'master.key');
      // The competitor writes its key while we are generating ours, i.e. after our existence check.
      const racingRandom: RandomBytes = (size) => {
        if (!existsSync(path)) writeFileSync(path, `${b64(keyB)}\n`, { flag: 'wx', mode: 0o600 });
        return Buffer.alloc(size, 0x5c);
      };
      const keyring = loadKeyring([`file:${path}`], { create: true, env: {}, random: racingRandom });
      expect(keyring.primary.key).toEqual(keyB);
      expect(readFileSync(path, 'utf8')).toBe(`${b64(keyB)}\n`);
      expect(readdirSync(dir)).toEqual(['master.key']);
    });

    test('creates only the first source, never a later one', () => {
      const first = join(dir, 'new.key');
      const second = join(dir, 'old.key');
      const error = masterKeyError(() => loadKeyring([`file:${first}`, `file:${second}`], { create: true, env: {}, random: cryptoRandom }));
      expect(error.message).toBe(`masterKey file ${second} does not exist`);
      expect(existsSync(second)).toBe(false);
    });

    test('does not create anything for an env source', () => {
      const error = masterKeyError(() => loadKeyring(['env:GH_KEY'], { create: true, env: {}, random: cryptoRandom }));
      expect(error.message).toBe('masterKey environment variable GH_KEY is not set');
    });
  });

  describe('errors name the source and never the content', () => {
    test('a missing file, when not asked to create it', () => {
      const path = join(dir, 'missing.key');
      expect(masterKeyError(() => loadKeyring([`file:${path}`], noCreate)).message).toBe(`masterKey file ${path} does not exist`);
      expect(existsSync(path)).toBe(false);
    });

    test('an unreadable file (here: a folder)', () => {
      const path = join(dir, 'a-folder');
      mkdirSync(path);
      expect(masterKeyError(() => loadKeyring([`file:${path}`], noCreate)).message).toBe(`masterKey file ${path} cannot be read (EISDIR)`);
    });

    test.each([
      ['text that is not base64', 'correct horse battery staple, which is not a key!'],
      ['31 bytes', randomBytes(31).toString('base64')],
      ['33 bytes', randomBytes(33).toString('base64')],
      ['64 bytes', randomBytes(64).toString('base64')],
      ['base64url alphabet', Buffer.alloc(32, 0xfb).toString('base64url')],
      ['hex', randomBytes(32).toString('hex')],
      ['an empty file', ''],
      ['two keys on two lines', `${b64(keyA)}\n${b64(keyB)}`],
    ])('a file holding %s', (_, content) => {
      const path = join(dir, 'bad.key');
      writeFileSync(path, content);
      const error = masterKeyError(() => loadKeyring([`file:${path}`], { create: true, env: {}, random: cryptoRandom }));
      expect(error.message).toBe(`masterKey file ${path} does not hold a valid key: expected 32 random bytes in base64, like the output of "openssl rand -base64 32"`);
      for (const line of content.split('\n').filter((l) => l.length >= 4)) expect(error.message).not.toContain(line);
      expect(readFileSync(path, 'utf8')).toBe(content);
    });

    test('an unset or empty environment variable', () => {
      expect(masterKeyError(() => loadKeyring(['env:GH_KEY'], noCreate)).message).toBe('masterKey environment variable GH_KEY is not set');
      expect(masterKeyError(() => loadKeyring(['env:GH_KEY'], { ...noCreate, env: { GH_KEY: '  ' } })).message).toBe('masterKey environment variable GH_KEY is not set');
    });

    test('an environment variable that is not a key', () => {
      const value = randomBytes(16).toString('base64');
      const error = masterKeyError(() => loadKeyring(['env:GH_KEY'], { ...noCreate, env: { GH_KEY: value } }));
      expect(error.message).toContain('masterKey environment variable GH_KEY does not hold a valid key');
      expect(error.message).not.toContain(value);
    });

    test('a source of another kind is refused without being echoed', () => {
      const raw = b64(keyA);
      const error = masterKeyError(() => loadKeyring([raw], noCreate));
      expect(error.message).toBe('a masterKey source must be "file:PATH" or "env:VARNAME"');
    });

    test('no source at all', () => {
      expect(masterKeyError(() => loadKeyring([], noCreate)).message).toBe('no masterKey source is configured');
    });
  });
});
