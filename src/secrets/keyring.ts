import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RandomBytes } from '../security/random.js';

/** The master keys: the primary seals, every key (the primary included) opens. */
export interface Keyring {
  primary: { id: string; key: Buffer };
  keys: ReadonlyMap<string, Buffer>;
}

/** A master key that cannot be used. The message names the source, never key material. */
export class MasterKeyError extends Error {
  readonly code = 'master_key';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'MasterKeyError';
  }
}

/** AES-256 takes a 256-bit key. */
const keyBytes = 32;

const keyExpectation = `expected ${keyBytes} random bytes in base64, like the output of "openssl rand -base64 ${keyBytes}"`;

/**
 * A key's id: the first 8 bytes of its SHA-256, hex. It names the key in sealed values so the right
 * one is chosen when several are configured; a truncated hash of a 256-bit random key reveals nothing
 * usable about it.
 */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('hex');
}

/**
 * Reads the master keys from their sources (`file:ABSOLUTE_PATH` or `env:VARNAME`, as the config
 * loader resolved them). The first is the primary. With `create`, a missing FIRST file is created
 * with a new random key (first run); any other missing source is an error.
 */
export function loadKeyring(
  sources: readonly string[],
  options: { create: boolean; env: NodeJS.ProcessEnv; random: RandomBytes },
): Keyring {
  const decoded = sources.map((source, index) => readSource(source, { ...options, create: options.create && index === 0 }));
  const [first] = decoded;
  if (!first) throw new MasterKeyError('no masterKey source is configured');
  const keys = new Map(decoded.map((key) => [keyIdOf(key), key] as const));
  return { primary: { id: keyIdOf(first), key: first }, keys };
}

function readSource(source: string, options: { create: boolean; env: NodeJS.ProcessEnv; random: RandomBytes }): Buffer {
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    const value = options.env[name];
    if (value === undefined || value.trim() === '') throw new MasterKeyError(`masterKey environment variable ${name} is not set`);
    return decodeKey(value, `masterKey environment variable ${name}`);
  }
  if (source.startsWith('file:')) {
    const path = source.slice(5);
    return decodeKey(readKeyFile(path, options), `masterKey file ${path}`);
  }
  // Not echoed: a misplaced raw key would otherwise end up in the error.
  throw new MasterKeyError('a masterKey source must be "file:PATH" or "env:VARNAME"');
}

function readKeyFile(path: string, options: { create: boolean; random: RandomBytes }): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new MasterKeyError(`masterKey file ${path} cannot be read (${code ?? 'unknown error'})`, { cause: error });
    if (!options.create) throw new MasterKeyError(`masterKey file ${path} does not exist`);
  }
  createKeyFile(path, options.random);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new MasterKeyError(`masterKey file ${path} cannot be read after creating it (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
  }
}

/**
 * Creates the key file so that it appears complete or not at all, and never overwrites one: the key
 * goes to a private temp file ('wx', 0600, fsynced), which is then hard-linked to the final name.
 * link() fails with EEXIST if another process got there first, and then its key is the one used.
 * (Writing the final name directly with 'wx' would let a racing reader see an empty file.)
 */
function createKeyFile(path: string, random: RandomBytes): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new MasterKeyError(`masterKey file ${path} cannot be created: its folder cannot be made (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
  }
  const key = random(keyBytes);
  if (key.length !== keyBytes) throw new Error(`the random source returned ${key.length} bytes instead of ${keyBytes}`);
  const temp = `${path}.${process.pid}.${random(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${key.toString('base64')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
      syncFolder(dirname(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } catch (error) {
    throw new MasterKeyError(`masterKey file ${path} cannot be created (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
  } finally {
    rmSync(temp, { force: true });
    key.fill(0);
  }
}

/** Makes the new directory entry durable: losing the master key loses every secret sealed under it. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a folder; the file itself is already synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Strict base64 of exactly 32 bytes; Buffer.from alone would silently skip invalid characters. */
function decodeKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed)) {
    const key = Buffer.from(trimmed, 'base64');
    if (key.length === keyBytes && key.toString('base64').replace(/=$/, '') === trimmed.replace(/=$/, '')) return key;
  }
  throw new MasterKeyError(`${what} does not hold a valid key: ${keyExpectation}`);
}
