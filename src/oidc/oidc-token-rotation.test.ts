import { describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { open, seal, sealedKeyId } from '../secrets/envelope.js';
import { keyIdOf } from '../secrets/keyring.js';
import { MasterKeyRotation, sealedSources } from '../secrets/master-key-rotation.js';
import { oidcTokensAad } from '../secrets/sealed-values.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import { keyringOf } from '../../test/helpers/keyring.js';

const oldKey = Buffer.alloc(32, 0x0a);
const newKey = Buffer.alloc(32, 0x0b);

describe('secret rotate-master-key re-seals OIDC session tokens (SPEC §9)', () => {
  test('a session\'s tokens sealed under the old key open under the new key alone afterwards, bound to the same handle', async () => {
    const store = openSqliteStore(':memory:');
    try {
      const plaintext = JSON.stringify({ idToken: 'id.token.sig', accessToken: 'access-token', refreshToken: 'refresh-token' });
      await store.oidc.putSession({
        handle: 'h1', provider: 'corp', issuer: 'https://idp.example', subject: 's', sid: null, amr: [],
        sealedTokens: seal(keyringOf(oldKey), oidcTokensAad('h1'), plaintext, cryptoRandom), accessExpiresAt: null, refreshExpiresAt: null, createdAt: 0,
      });
      const audit = new AuditLog({ store: store.audit, logger: silentLogger(), clock: new ManualClock(0) });
      const report = await new MasterKeyRotation({ keyring: keyringOf(newKey, oldKey), random: cryptoRandom, audit, sources: sealedSources(store) }).rotate({});
      expect(report.bySource).toContainEqual({ name: 'OIDC session tokens', resealed: 1, alreadyCurrent: 0 });
      const sealed = (await store.oidc.getSession('h1'))!.sealedTokens;
      expect(sealedKeyId(sealed)).toBe(keyIdOf(newKey));
      expect(open(keyringOf(newKey), oidcTokensAad('h1'), sealed).toString('utf8')).toBe(plaintext);
    } finally {
      await store.close();
    }
  });
});
