import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

/** The demo provider's secrets that must outlive a restart, in one file only this user can read. */
export interface ProviderKeys {
  /** Private signing keys (JWK) for ID tokens: kept, so tokens issued before a restart still verify. */
  signing: JWK[];
  /** Keys for its signed cookies: kept, so a login begun before a restart can still finish. */
  cookies: string[];
}

export async function readOrCreateProviderKeys(file: string): Promise<ProviderKeys> {
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<ProviderKeys>;
    if (Array.isArray(stored.signing) && stored.signing.length > 0 && Array.isArray(stored.cookies) && stored.cookies.length > 0) {
      return { signing: stored.signing, cookies: stored.cookies };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
  }
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const keys: ProviderKeys = {
    signing: [{ ...jwk, kid: randomBytes(8).toString('base64url'), alg: 'RS256', use: 'sig' }],
    cookies: [randomBytes(32).toString('base64url')],
  };
  writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return keys;
}
