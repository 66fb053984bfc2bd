import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { RandomBytes } from '../security/random.js';
import type { Keyring } from './keyring.js';

/** A sealed value that cannot be opened. The message never contains the value, sealed or not. */
export class SealError extends Error {
  readonly code = 'seal';

  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

const version = 'v1';
const algorithm = 'aes-256-gcm';
/**
 * 96-bit random nonces: the IV length NIST SP 800-38D recommends (§5.2.1.1), chosen at random per
 * seal (§8.2.2). One key may then seal up to 2^32 values (§8.3), far beyond what a gateway stores.
 */
const nonceBytes = 12;
/** The full 128-bit tag, always passed explicitly so a truncated tag is refused (Node DEP0182). */
const tagBytes = 16;

/**
 * Encrypts with AES-256-GCM under the keyring's primary key:
 * `v1.<keyId>.<nonce>.<ciphertext>.<tag>` (base64url parts). `aad` says what the value is for
 * (`secret:weather-token`); it is authenticated, not stored, so a value copied to another name or
 * purpose does not open. The version and key id are authenticated too.
 */
export function seal(keyring: Keyring, aad: string, plaintext: string | Buffer, random: RandomBytes): string {
  const { id, key } = keyring.primary;
  const nonce = random(nonceBytes);
  if (nonce.length !== nonceBytes) throw new Error(`the random source returned ${nonce.length} bytes instead of ${nonceBytes}`);
  const cipher = createCipheriv(algorithm, key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(associatedData(id, aad));
  const ciphertext = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [version, id, nonce.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
}

/** Decrypts what `seal` produced for the same `aad`. Throws SealError if it cannot be trusted. */
export function open(keyring: Keyring, aad: string, sealed: string): Buffer {
  const parts = parse(sealed);
  const key = keyring.keys.get(parts.keyId);
  if (!key) throw new SealError(`the value was sealed under a master key that is not configured (key id ${parts.keyId})`);
  const decipher = createDecipheriv(algorithm, key, parts.nonce, { authTagLength: tagBytes });
  decipher.setAAD(associatedData(parts.keyId, aad));
  decipher.setAuthTag(parts.tag);
  try {
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
  } catch {
    throw new SealError('the sealed value failed authentication: it was altered, or it belongs to another name');
  }
}

/** The id of the key a value was sealed under (master-key rotation re-seals the others). */
export function sealedKeyId(sealed: string): string {
  return parse(sealed).keyId;
}

function associatedData(keyId: string, aad: string): Buffer {
  return Buffer.from(`${version}.${keyId}.${aad}`, 'utf8');
}

interface SealedParts {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function parse(sealed: string): SealedParts {
  const [head, keyId, nonce, ciphertext, tag, ...rest] = sealed.split('.');
  if (head !== version || rest.length > 0 || keyId === undefined || !/^[0-9a-f]{16}$/.test(keyId)) {
    throw new SealError('the sealed value is not in a format this Gatehouse knows');
  }
  const parts = { keyId, nonce: decodePart(nonce), ciphertext: decodePart(ciphertext), tag: decodePart(tag) };
  if (parts.nonce.length !== nonceBytes || parts.tag.length !== tagBytes) {
    throw new SealError('the sealed value is not in a format this Gatehouse knows');
  }
  return parts;
}

/** Canonical base64url only: a changed character must never decode to the same bytes unnoticed. */
function decodePart(text: string | undefined): Buffer {
  if (text === undefined || !/^[A-Za-z0-9_-]*$/.test(text)) throw new SealError('the sealed value is not in a format this Gatehouse knows');
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new SealError('the sealed value is not in a format this Gatehouse knows');
  return bytes;
}
