import type { StoreDump } from '../storage/store-transfer.js';
import { transferTables } from '../storage/store-transfer.js';
import { open, SealError, sealedKeyId } from './envelope.js';
import type { Keyring } from './keyring.js';
import { masterKeyCheckKey, metaAad } from './sealed-values.js';

/**
 * Why `keyring` (the master keys `whose` configuration names, e.g. "the target configuration's")
 * could not open what `dump` holds sealed, or null when it can: `gatehouse store copy` moves sealed values as they are, so the target must
 * hold the key each was sealed under. The master-key check value must authenticate under it (a key
 * id alone is a truncated hash); every other sealed value's key must at least be configured, which
 * is checked without decrypting anything. The sentence names key ids only, never key material.
 */
export function masterKeyMismatch(dump: StoreDump, keyring: Keyring, whose: string): string | null {
  const configured = [...keyring.keys.keys()].join(', ');
  const check = dump.meta.find((row) => row.key === masterKeyCheckKey)?.value;
  if (typeof check === 'string') {
    try {
      open(keyring, metaAad(masterKeyCheckKey), check);
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      return `${whose} masterKey is not the one this store was created with (key id ${keyIdOrUnknown(check)}; configured: ${configured}); both must use the same master key`;
    }
  }
  for (const table of transferTables) {
    for (const column of table.columns.filter((c) => c.sealed)) {
      for (const row of dump[table.name]) {
        const value = row[column.name];
        if (typeof value !== 'string') continue;
        const keyId = keyIdOrUnknown(value);
        if (!keyring.keys.has(keyId)) {
          return `a value in this store is sealed under master key id ${keyId}, which ${whose} masterKey does not list (configured: ${configured}); both must use the same master keys`;
        }
      }
    }
  }
  return null;
}

function keyIdOrUnknown(sealed: string): string {
  try {
    return sealedKeyId(sealed);
  } catch {
    return 'unknown';
  }
}
