import { keyIdOf, type Keyring } from '../../src/secrets/keyring.js';

/** A keyring of these master keys, the first one primary (as `masterKey: [new, old]` loads). */
export function keyringOf(...keys: Buffer[]): Keyring {
  const [first] = keys;
  if (!first) throw new Error('need a key');
  return { primary: { id: keyIdOf(first), key: first }, keys: new Map(keys.map((k) => [keyIdOf(k), k])) };
}
