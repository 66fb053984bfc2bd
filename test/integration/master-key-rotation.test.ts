import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { openServices } from '../../src/app/open-services.js';
import { loadConfig } from '../../src/config/load.js';
import { MasterKeyError } from '../../src/secrets/keyring.js';
import { ManualClock } from '../../src/security/clock.js';
import { runRaw } from '../cli/harness.js';
import { baseDocument, gatewayFolder, startFromFolder, type GatewayFolder, type RunningGateway } from '../helpers/file-gateway.js';
import { PASSWORD, SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §7 master-key rotation under load: a gateway runs with masterKey [new, old] and serves a
 * steady stream of proxied requests, second-factor logins and secret reads while
 * `gatehouse secret rotate-master-key` (the CLI code, in this process, on its own connection to
 * the same SQLite file) re-seals everything. Not one may fail. Then the old key is dropped and a
 * restarted gateway still opens everything.
 */

const extraSecrets = 150;
const totpUsers = Array.from({ length: 12 }, (_, i) => `mfa-user-${i}`);
const connections = 8;
const minimumRequests = 500;
/** A bound on the load whatever happens: it stops here even if the rotation never ends. */
const maximumRequests = 6_000;

let upstream: TestUpstream;
let folder: GatewayFolder;
let clock: ManualClock;
const totpSecrets = new Map<string, string>();

function document(masterKey: string | string[]): Record<string, unknown> {
  return baseDocument({
    masterKey,
    upstreams: [{ name: 'api', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '5s' }],
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
  });
}

function extraValue(i: number): string {
  return `extra-secret-value-${i}-7c1e5b2d`;
}

beforeAll(async () => {
  upstream = await startUpstream();
  folder = gatewayFolder();
  clock = new ManualClock(Date.now());
  // Before the rotation: everything sealed under old.key alone.
  folder.writeKey('old.key');
  folder.writeConfig(document('file:./old.key'));
  const services = await openServices(loadConfig(folder.configFile).config, { env: {}, clock });
  try {
    await services.secrets.set('api-token', SECRET, { user: 'test' });
    for (let i = 0; i < extraSecrets; i++) await services.secrets.set(`extra-${i}`, extraValue(i), { user: 'test' });
    await services.accounts.add({ name: 'alice', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    for (const name of totpUsers) {
      await services.accounts.add({ name, roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
      const setup = await services.totp.setup(name);
      if (setup === 'already_enabled') throw new Error('unexpected enrolment');
      expect(await services.totp.confirm(name, totpCode(setup.secret, clock.now()))).not.toBe('invalid_code');
      totpSecrets.set(name, setup.secret);
    }
    // The signing key a first gateway start creates.
    await services.signingKeys.init();
  } finally {
    await services.close();
  }
  // Step 1 of SPEC §7: the new key first, the old one after it.
  folder.writeKey('new.key');
  folder.writeConfig(document(['file:./new.key', 'file:./old.key']));
}, 120_000);

afterAll(async () => {
  await upstream?.close();
  folder?.remove();
});

/** A password login followed by the TOTP code of the gateway clock's current step. */
async function mfaLogin(gw: RunningGateway, name: string): Promise<number> {
  const first = await call(gw.url, '/auth/login', { method: 'POST', body: { username: name, password: PASSWORD } });
  if (first.status !== 200 || first.json().mfaRequired !== true) return first.status;
  const verify = await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: first.cookie!, body: { code: totpCode(totpSecrets.get(name)!, gw.clock.now()) } });
  return verify.status;
}

describe('master-key rotation while a gateway serves', () => {
  it('no request, login or secret read fails during the rotation; afterwards the old key can be removed', async () => {
    let gw = await startFromFolder(folder, { clock });
    try {
      // Past the steps the enrolments consumed: each user's code below is fresh.
      clock.advance(120_000);
      const cookie = await login(gw.url, 'alice');
      const agent = new Agent({ connections });
      const failures: string[] = [];
      let sent = 0;
      let duringRotation = 0;
      let secretReads = 0;
      let readsDuringRotation = 0;
      let rotating = true;
      let rotationStarted = false;

      const requestLoop = async (): Promise<void> => {
        while ((rotating || sent < minimumRequests) && sent < maximumRequests) {
          sent += 1;
          const reply = await call(gw.url, `/api/item/${sent}`, { session: cookie, dispatcher: agent });
          if (reply.status !== 200) failures.push(`proxied request: ${reply.status} ${reply.text}`);
          else if (rotationStarted && rotating) duringRotation += 1;
        }
      };
      // What a running gateway opens on demand: secrets (a `secret set` is picked up by re-reading)
      // and TOTP secrets (every code check). Reads go through the gateway's own services.
      const readLoop = async (): Promise<void> => {
        for (let i = 0; rotating || i < extraSecrets; i++) {
          const n = i % extraSecrets;
          try {
            const value = await gw.gateway.services.secrets.reveal(`extra-${n}`);
            if (value !== extraValue(n) && !value?.startsWith('rewritten-')) failures.push(`secret extra-${n}: wrong value`);
            await gw.gateway.services.totp.verify(totpUsers[n % totpUsers.length]!, 'abcdef');
          } catch (error) {
            failures.push(`secret read: ${(error as Error).message}`);
          }
          secretReads += 1;
          if (rotationStarted && rotating) readsDuringRotation += 1;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      };
      // Concurrent writers: `secret set` through the running gateway's services (sealed under its
      // first key) races the rotation's compare-and-set on the same rows.
      const writeLoop = async (): Promise<void> => {
        for (let i = 0; rotating && i < 40; i++) {
          await gw.gateway.services.secrets.set(`extra-${(i * 7) % extraSecrets}`, `rewritten-${i}-0f3c9a7e`, { user: 'test' });
          await new Promise<void>((resolve) => setTimeout(resolve, 5));
        }
      };
      const mfaLogins = async (): Promise<void> => {
        for (const name of totpUsers) {
          const status = await mfaLogin(gw, name);
          if (status !== 200) failures.push(`MFA login of ${name}: ${status}`);
        }
      };

      const load = Promise.all([...Array.from({ length: connections }, requestLoop), readLoop()]);
      // Let the load get going before the rotation starts.
      while (sent < 50) await new Promise((resolve) => setTimeout(resolve, 5));
      rotationStarted = true;
      const rotation = runRaw(['secret', 'rotate-master-key', '--config', folder.configFile]).finally(() => {
        rotating = false;
      });
      const [result] = await Promise.all([rotation, mfaLogins(), writeLoop()]);
      await load;
      await agent.close();

      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^re-encrypted \d+ values under master key [0-9a-f]{16} \(secrets \d+, signing keys 1, TOTP secrets 12, OIDC session tokens 0, master-key check 1\)/);
      expect(failures).toEqual([]);
      expect(sent).toBeGreaterThanOrEqual(minimumRequests);
      expect(sent).toBeLessThan(maximumRequests);
      // The load really overlapped the rotation (else this test would prove nothing).
      expect(duringRotation).toBeGreaterThan(0);
      expect(readsDuringRotation).toBeGreaterThan(0);
      expect(secretReads).toBeGreaterThanOrEqual(extraSecrets);
      expect(upstream.seen.filter((r) => r.url.startsWith('/item/')).every((r) => r.headers.authorization === `Bearer ${SECRET}`)).toBe(true);

      // Step 3: the old key removed from the list; a restarted gateway opens everything.
      await gw.stop();
      folder.writeConfig(document('file:./new.key'));
      clock.advance(60_000);
      gw = await startFromFolder(folder, { clock });
      const after = await login(gw.url, 'alice');
      const proxied = await call(gw.url, '/api/after', { session: after });
      expect(proxied.status).toBe(200);
      expect(upstream.seen.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
      for (const name of totpUsers) expect(await mfaLogin(gw, name)).toBe(200);
      for (let i = 0; i < extraSecrets; i++) {
        expect(await gw.gateway.services.secrets.reveal(`extra-${i}`)).toMatch(new RegExp(`^(${extraValue(i)}|rewritten-\\d+-0f3c9a7e)$`));
      }
      expect((await call(gw.url, '/.well-known/jwks.json')).json().keys).toHaveLength(1);
    } finally {
      await gw.stop();
    }

    // The old key alone no longer opens the store: the check value, like everything, moved.
    folder.writeConfig(document('file:./old.key'));
    await expect(openServices(loadConfig(folder.configFile).config, { env: {} })).rejects.toBeInstanceOf(MasterKeyError);
  }, 180_000);
});
