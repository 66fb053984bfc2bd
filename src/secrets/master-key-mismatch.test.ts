import { describe, expect, test } from 'vitest';
import { cryptoRandom } from '../security/random.js';
import { transferTables, type StoreDump, type TransferRow, type TransferTableName } from '../storage/store-transfer.js';
import { seal } from './envelope.js';
import { keyIdOf, type Keyring } from './keyring.js';
import { masterKeyMismatch } from './master-key-mismatch.js';
import { masterKeyCheckKey, metaAad, secretAad } from './sealed-values.js';
import { keyringOf } from '../../test/helpers/keyring.js';

const oldKey = Buffer.alloc(32, 0x01);
const newKey = Buffer.alloc(32, 0x02);
const otherKey = Buffer.alloc(32, 0x03);
const target = "the target configuration's";

/** A dump sealed under `source`: the check value and one secret (under `secretKeyring`, default the same). */
function dumpSealedUnder(source: Keyring, secretKeyring = source): StoreDump {
  const tables = Object.fromEntries(transferTables.map((t) => [t.name, [] as TransferRow[]])) as Record<TransferTableName, TransferRow[]>;
  tables.meta = [{ key: masterKeyCheckKey, value: seal(source, metaAad(masterKeyCheckKey), 'gatehouse master key check', cryptoRandom) }];
  tables.secrets = [{ name: 'api-token', sealed: seal(secretKeyring, secretAad('api-token'), 'the-token-value', cryptoRandom), updated_at: 1 }];
  return tables;
}

describe('masterKeyMismatch', () => {
  test('none when the target holds the same key', () => {
    expect(masterKeyMismatch(dumpSealedUnder(keyringOf(oldKey)), keyringOf(oldKey), target)).toBeNull();
    expect(masterKeyMismatch(dumpSealedUnder(keyringOf(oldKey)), keyringOf(newKey, oldKey), target)).toBeNull();
  });

  test('a different key: one sentence naming key ids, never key material or values', () => {
    const reason = masterKeyMismatch(dumpSealedUnder(keyringOf(oldKey)), keyringOf(otherKey), target);
    expect(reason).toContain(keyIdOf(oldKey));
    expect(reason).toContain(keyIdOf(otherKey));
    expect(reason).toMatch(/^the target configuration's masterKey is not the one .*same master key$/);
    for (const material of [oldKey, otherKey]) expect(reason).not.toContain(material.toString('base64'));
    expect(reason).not.toContain('the-token-value');
  });

  test('a check value under a configured id that fails authentication is a mismatch (an id is only a hash prefix)', () => {
    const dump = dumpSealedUnder(keyringOf(oldKey));
    const forged: Keyring = { primary: { id: keyIdOf(oldKey), key: otherKey }, keys: new Map([[keyIdOf(oldKey), otherKey]]) };
    expect(masterKeyMismatch(dump, forged, target)).toMatch(/not the one this store was created with/);
  });

  test('a value still sealed under a key the target does not list (a rotation not finished) is a mismatch', () => {
    const dump = dumpSealedUnder(keyringOf(newKey), keyringOf(oldKey));
    expect(masterKeyMismatch(dump, keyringOf(newKey, oldKey), target)).toBeNull();
    expect(masterKeyMismatch(dump, keyringOf(newKey), target)).toMatch(new RegExp(`sealed under master key id ${keyIdOf(oldKey)}`));
  });
});
