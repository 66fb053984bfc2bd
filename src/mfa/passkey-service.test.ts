import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SoftAuthenticator } from '../../test/helpers/soft-authenticator.js';
import type { UserRecord } from '../accounts/user-store.js';
import { AuditLog } from '../audit/audit-log.js';
import { createLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { challengeTtlMs, passkeyName, PasskeyService, userHandleOf } from './passkey-service.js';

const origin = 'https://gate.example.com';

describe('PasskeyService', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let clock: ManualClock;
  let passkeys: PasskeyService;
  let authenticator: SoftAuthenticator;
  const extraStores: Store[] = [];

  function serviceOn(on: Store, publicOrigin: string = origin): PasskeyService {
    const logger = createLogger({ destination: { write: () => {} } });
    return new PasskeyService({ store: on.mfa, users: on.users, clock, random: cryptoRandom, publicOrigin, rpName: 'Gatehouse', audit: new AuditLog({ store: on.audit, logger, clock }) });
  }

  async function user(name: string): Promise<UserRecord> {
    const found = await store.users.get(name);
    if (!found) throw new Error(`no user ${name}`);
    return found;
  }

  /** Registration options for a user who has room for another passkey. */
  async function optionsFor(of: UserRecord): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await passkeys.registrationOptions(of);
    if (options === 'too_many_passkeys') throw new Error(`${of.name} has the most passkeys allowed`);
    return options;
  }

  /** Registers a passkey for `name` with the soft authenticator; returns its id. */
  async function register(name: string, on: SoftAuthenticator = authenticator): Promise<string> {
    const alice = await user(name);
    const response = on.register(await optionsFor(alice));
    const record = await passkeys.verifyRegistration(alice, response);
    if (!record || record === 'too_many_passkeys') throw new Error('registration failed');
    return record.id;
  }

  async function failedReasons(): Promise<unknown[]> {
    return (await store.audit.recent(50)).filter((e) => e.type === 'mfa_failed').map((e) => e.detail.reason);
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-passkeys-'));
    dbPath = join(dir, 'gatehouse.db');
    store = openSqliteStore(dbPath);
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    passkeys = serviceOn(store);
    authenticator = new SoftAuthenticator({ origin });
    for (const name of ['alice', 'bob']) {
      await store.users.create({ name, roles: ['user'], passwordHash: 'x', locked: false, passwordResetRequired: false, mfaEnabled: false, createdAt: clock.now(), lastLoginAt: null });
    }
  });

  afterEach(async () => {
    for (const extra of extraStores.splice(0)) await extra.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('relying party', () => {
    test('the RP id is the host of publicOrigin and the origin is publicOrigin', () => {
      expect(passkeys).toMatchObject({ enabled: true, rpId: 'gate.example.com', origin });
      expect(serviceOn(store, 'http://localhost:8080')).toMatchObject({ enabled: true, rpId: 'localhost', origin: 'http://localhost:8080' });
    });

    test('passkeys are off for an IP address publicOrigin, in any of its spellings', async () => {
      for (const ip of ['http://127.0.0.1:8080', 'https://10.0.0.5', 'http://[::1]:8080', 'https://[2001:db8::1]', 'http://127.1', 'http://0x7f.0.0.1']) {
        const off = serviceOn(store, ip);
        expect(off.enabled, ip).toBe(false);
        await expect(off.registrationOptions(await user('alice'))).rejects.toThrow(/IP address/);
        await expect(off.authenticationOptions()).rejects.toThrow(/IP address/);
      }
      // Even a response that would verify elsewhere gives null, and nothing is stored.
      const off = serviceOn(store, 'http://127.0.0.1:8080');
      const response = authenticator.register(await optionsFor(await user('alice')));
      expect(await off.verifyRegistration(await user('alice'), response)).toBeNull();
      expect(await store.mfa.listPasskeys('alice')).toEqual([]);
    });
  });

  describe('registration', () => {
    test('options require user verification and a discoverable key, ask no attestation, and expire in 5 minutes', async () => {
      const options = await optionsFor(await user('alice'));
      expect(options).toMatchObject({
        rp: { id: 'gate.example.com', name: 'Gatehouse' },
        user: { name: 'alice', displayName: 'alice', id: Buffer.from(userHandleOf('alice')).toString('base64url') },
        attestation: 'none',
        timeout: challengeTtlMs,
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
        excludeCredentials: [],
      });
      expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(options.pubKeyCredParams.map((p) => p.alg)).toContain(-7);
      expect(challengeTtlMs).toBe(5 * 60_000);
    });

    test('stores the passkey, enables MFA, audits it, and excludes it from the next options', async () => {
      const alice = await user('alice');
      const response = authenticator.register(await optionsFor(alice));
      const record = await passkeys.verifyRegistration(alice, response, 'My phone');
      expect(record).toMatchObject({ id: response.id, userName: 'alice', name: 'My phone', counter: 0, transports: ['internal', 'hybrid'], createdAt: clock.now(), lastUsedAt: null });
      expect((await user('alice')).mfaEnabled).toBe(true);
      expect(await passkeys.list('alice')).toHaveLength(1);
      expect((await store.audit.recent(5)).find((e) => e.type === 'passkey_registered')).toMatchObject({ user: 'alice', detail: { passkey: response.id } });
      const next = await optionsFor(alice);
      expect(next.excludeCredentials?.map((c) => c.id)).toEqual([response.id]);
      expect(() => authenticator.register(next)).toThrow(/InvalidStateError/);
    });

    test('a registration challenge works once', async () => {
      const alice = await user('alice');
      const options = await optionsFor(alice);
      const response = authenticator.register(options);
      expect(await passkeys.verifyRegistration(alice, response)).not.toBeNull();
      // The same response again, and a fresh credential answering the spent challenge.
      expect(await passkeys.verifyRegistration(alice, response)).toBeNull();
      expect(await passkeys.verifyRegistration(alice, new SoftAuthenticator({ origin }).register(options))).toBeNull();
      expect(await passkeys.list('alice')).toHaveLength(1);
    });

    test('a challenge expires after 5 minutes', async () => {
      const alice = await user('alice');
      const late = authenticator.register(await optionsFor(alice));
      clock.advance(challengeTtlMs + 1);
      expect(await passkeys.verifyRegistration(alice, late)).toBeNull();
      const inTime = new SoftAuthenticator({ origin }).register(await optionsFor(alice));
      clock.advance(challengeTtlMs - 1);
      expect(await passkeys.verifyRegistration(alice, inTime)).not.toBeNull();
    });

    test('is refused for another origin, another RP id, or without user verification or presence', async () => {
      const alice = await user('alice');
      for (const knobs of [{ origin: 'https://evil.example.com' }, { origin: 'http://gate.example.com' }, { rpId: 'evil.example.com' }, { rpId: 'example.com' }, { userVerified: false }, { userPresent: false, userVerified: false }]) {
        const response = new SoftAuthenticator({ origin }).register(await optionsFor(alice), knobs);
        expect(await passkeys.verifyRegistration(alice, response), JSON.stringify(knobs)).toBeNull();
      }
      expect(await passkeys.list('alice')).toEqual([]);
      expect((await user('alice')).mfaEnabled).toBe(false);
    });

    test("is refused with another user's challenge, a login challenge, or for a locked user", async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      expect(await passkeys.verifyRegistration(bob, authenticator.register(await optionsFor(alice)))).toBeNull();
      const loginOptions = await passkeys.authenticationOptions('alice');
      const asIfRegistering = authenticator.register({ ...(await optionsFor(alice)), challenge: loginOptions.challenge });
      expect(await passkeys.verifyRegistration(alice, asIfRegistering)).toBeNull();
      const options = await optionsFor(alice);
      await store.users.update('alice', { locked: true });
      expect(await passkeys.verifyRegistration(alice, new SoftAuthenticator({ origin }).register(options))).toBeNull();
      expect(await store.mfa.listPasskeys('alice')).toEqual([]);
      expect(await store.mfa.listPasskeys('bob')).toEqual([]);
    });

    test('a credential id registered already (to anyone) is refused, never overwritten', async () => {
      const aliceCredential = await register('alice');
      const bob = await user('bob');
      const clash = new SoftAuthenticator({ origin }).register(await optionsFor(bob), { credentialId: aliceCredential });
      expect(await passkeys.verifyRegistration(bob, clash)).toBeNull();
      expect((await store.mfa.getPasskey(aliceCredential))?.userName).toBe('alice');
    });

    test('malformed responses give null, never an exception', async () => {
      const alice = await user('alice');
      const options = await optionsFor(alice);
      const good = authenticator.register(options);
      const clientData = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString('base64url');
      const bad: unknown[] = [
        null, 'x', 42, [], {}, { response: null }, { response: { clientDataJSON: 7 } },
        { ...good, response: { ...good.response, clientDataJSON: '%%%' } },
        { ...good, response: { ...good.response, clientDataJSON: clientData(['a']) } },
        { ...good, response: { ...good.response, clientDataJSON: clientData({ challenge: 'short' }) } },
        { ...good, response: { ...good.response, clientDataJSON: 'A'.repeat(100_000) } },
      ];
      for (const response of bad) expect(await passkeys.verifyRegistration(alice, response as RegistrationResponseJSON)).toBeNull();
      // Bad attestation objects reach the library, which throws; still null.
      const next = await optionsFor(alice);
      const broken = new SoftAuthenticator({ origin }).register(next);
      expect(await passkeys.verifyRegistration(alice, { ...broken, response: { ...broken.response, attestationObject: 'AAAA' } })).toBeNull();
    });

    test('names: control and format characters stripped, at most 64 characters, "Passkey N" by default', async () => {
      expect(passkeyName('Phone\u0000\u001b[31m\u202e\nKey', [])).toBe('Phone[31mKey');
      expect(passkeyName('x'.repeat(100), [])).toBe('x'.repeat(64));
      expect(passkeyName('🔑'.repeat(70), [])).toBe('🔑'.repeat(64));
      expect(passkeyName('  \u200b ', [])).toBe('Passkey 1');
      expect(passkeyName(undefined, ['Phone'])).toBe('Passkey 2');
      expect(passkeyName(undefined, ['Passkey 2', 'Passkey 3'])).toBe('Passkey 4');
      expect(passkeyName(42, [])).toBe('Passkey 1');
      await register('alice');
      await register('alice', new SoftAuthenticator({ origin }));
      expect((await passkeys.list('alice')).map((p) => p.name)).toEqual(['Passkey 1', 'Passkey 2']);
    });
  });

  describe('authentication', () => {
    test('a registered passkey logs its user in, with no name needed, and the use is recorded', async () => {
      const id = await register('alice');
      const options = await passkeys.authenticationOptions();
      expect(options).toMatchObject({ rpId: 'gate.example.com', userVerification: 'required', timeout: challengeTtlMs });
      expect(options.allowCredentials ?? []).toEqual([]);
      clock.advance(1000);
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(options))).toEqual({ userName: 'alice' });
      expect(await store.mfa.getPasskey(id)).toMatchObject({ counter: 1, lastUsedAt: clock.now() });
    });

    test('options do not tell a user with passkeys from one without or from an unknown name', async () => {
      await register('alice');
      const shape = (o: object): string => JSON.stringify({ ...o, challenge: '' });
      const known = await passkeys.authenticationOptions('alice');
      expect(shape(known)).toBe(shape(await passkeys.authenticationOptions('bob')));
      expect(shape(known)).toBe(shape(await passkeys.authenticationOptions('nobody')));
      expect(shape(known)).toBe(shape(await passkeys.authenticationOptions()));
    });

    test('a login challenge works once: the same assertion replayed is refused', async () => {
      await register('alice');
      const response = authenticator.authenticate(await passkeys.authenticationOptions());
      expect(await passkeys.verifyAuthentication(response)).toEqual({ userName: 'alice' });
      expect(await passkeys.verifyAuthentication(response)).toBeNull();
    });

    test('of the same assertion sent to two gateway processes at once, one is accepted', async () => {
      await register('alice');
      const other = openSqliteStore(dbPath);
      extraStores.push(other);
      const otherPasskeys = serviceOn(other);
      const response = authenticator.authenticate(await passkeys.authenticationOptions());
      const results = await Promise.all([passkeys.verifyAuthentication(response), otherPasskeys.verifyAuthentication(response), passkeys.verifyAuthentication(response)]);
      expect(results.filter((r) => r !== null)).toEqual([{ userName: 'alice' }]);
    });

    test('a challenge expires after 5 minutes', async () => {
      await register('alice');
      const late = authenticator.authenticate(await passkeys.authenticationOptions());
      clock.advance(challengeTtlMs + 1);
      expect(await passkeys.verifyAuthentication(late)).toBeNull();
      const inTime = authenticator.authenticate(await passkeys.authenticationOptions());
      clock.advance(challengeTtlMs - 1);
      expect(await passkeys.verifyAuthentication(inTime)).toEqual({ userName: 'alice' });
    });

    test('is refused for another origin, another RP id, or without user verification or presence', async () => {
      await register('alice');
      for (const knobs of [{ origin: 'https://evil.example.com' }, { origin: 'https://gate.example.com:8443' }, { rpId: 'evil.example.com' }, { userVerified: false }, { userPresent: false, userVerified: false }]) {
        expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions(), knobs)), JSON.stringify(knobs)).toBeNull();
      }
      expect(await failedReasons()).toEqual(Array(5).fill('verification'));
      // None of them advanced the stored counter or use time.
      expect(await store.mfa.listPasskeys('alice')).toMatchObject([{ counter: 0, lastUsedAt: null }]);
    });

    test('a registration challenge cannot be used to log in', async () => {
      await register('alice');
      const registration = await optionsFor(await user('alice'));
      const response = authenticator.authenticate({ ...(await passkeys.authenticationOptions()), challenge: registration.challenge });
      expect(await passkeys.verifyAuthentication(response)).toBeNull();
    });

    test('the signature counter must grow; a passkey that keeps none (always 0) still works', async () => {
      const id = await register('alice');
      const login = async (counter: number): Promise<unknown> => passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions(), { counter }));
      expect(await login(5)).toEqual({ userName: 'alice' });
      expect(await login(5)).toBeNull();
      expect(await login(3)).toBeNull();
      expect(await login(0)).toBeNull();
      expect((await store.mfa.getPasskey(id))?.counter).toBe(5);
      expect(await login(6)).toEqual({ userName: 'alice' });

      const synced = new SoftAuthenticator({ origin });
      await register('bob', synced);
      for (let i = 0; i < 3; i += 1) {
        expect(await passkeys.verifyAuthentication(synced.authenticate(await passkeys.authenticationOptions(), { counter: 0 }))).toEqual({ userName: 'bob' });
      }
    });

    test('is refused for a locked or removed user, and audited with the reason', async () => {
      await register('alice');
      await store.users.update('alice', { locked: true });
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions()))).toBeNull();
      await store.users.update('alice', { locked: false });
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions()))).toEqual({ userName: 'alice' });
      await store.users.remove('alice');
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions()))).toBeNull();
      expect(await failedReasons()).toEqual(['no_user', 'locked']);
    });

    test("refuses another user's passkey when a name was given, and a user handle that is not the owner's", async () => {
      await register('alice');
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions('bob')))).toBeNull();
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions('nobody')))).toBeNull();
      const bobHandle = Buffer.from(userHandleOf('bob')).toString('base64url');
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions(), { userHandle: bobHandle }))).toBeNull();
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions('alice')))).toEqual({ userName: 'alice' });
    });

    test('a forged signature, an unknown credential or a malformed response is refused without an exception', async () => {
      const id = await register('alice');
      const good = authenticator.authenticate(await passkeys.authenticationOptions());
      const signature = Buffer.from(good.response.signature, 'base64url');
      const last = signature.length - 1;
      signature.writeUInt8(signature.readUInt8(last) ^ 1, last);
      expect(await passkeys.verifyAuthentication({ ...good, response: { ...good.response, signature: signature.toString('base64url') } })).toBeNull();

      const stranger = new SoftAuthenticator({ origin });
      stranger.register(await optionsFor(await user('bob'))); // never verified, so never stored
      expect(await passkeys.verifyAuthentication(stranger.authenticate(await passkeys.authenticationOptions()))).toBeNull();

      const fresh = authenticator.authenticate(await passkeys.authenticationOptions());
      for (const bad of [null, 'x', {}, { response: {} }, { ...fresh, id: '' }, { ...fresh, id: 'a'.repeat(5000) }, { ...fresh, id: 'not base64url!' }, { ...fresh, rawId: 'different' }, { ...fresh, response: { ...fresh.response, authenticatorData: 7 } }]) {
        expect(await passkeys.verifyAuthentication(bad as never)).toBeNull();
      }
      expect(await store.mfa.getPasskey(id)).toMatchObject({ counter: 0 });
    });
  });

  describe('list and remove', () => {
    test('remove needs the owner; MFA stays on while TOTP or another passkey remains', async () => {
      const first = await register('alice');
      const second = await register('alice', new SoftAuthenticator({ origin }));
      expect(await passkeys.remove('bob', first, { user: 'bob' })).toBe(false);
      expect(await passkeys.remove('alice', 'no-such-id', { user: 'alice' })).toBe(false);
      expect(await passkeys.remove('alice', first, { user: 'alice' })).toBe(true);
      expect((await user('alice')).mfaEnabled).toBe(true);
      expect(await passkeys.remove('alice', second, { user: 'alice' })).toBe(true);
      expect((await user('alice')).mfaEnabled).toBe(false);
      expect(await passkeys.list('alice')).toEqual([]);
      expect((await store.audit.recent(5)).find((e) => e.type === 'passkey_removed')).toMatchObject({ user: 'alice', detail: { passkey: second, by: 'alice' } });
      // A removed passkey no longer logs in.
      expect(await passkeys.verifyAuthentication(authenticator.authenticate(await passkeys.authenticationOptions(), { credentialId: first }))).toBeNull();
    });
  });
});
