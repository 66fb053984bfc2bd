import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { URI } from 'otpauth';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { createLogger } from '../log/logger.js';
import { keyIdOf, type Keyring } from '../secrets/keyring.js';
import { SealError } from '../secrets/envelope.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { TotpService } from './totp-service.js';

const key = Buffer.alloc(32, 0x5e);
const keyring: Keyring = { primary: { id: keyIdOf(key), key }, keys: new Map([[keyIdOf(key), key]]) };
const step = 30_000;
/** Mid-step, so ±1 ms never crosses a step boundary by accident. */
const start = Date.UTC(2026, 0, 1) + 15_000;

/**
 * RFC 4226 §5.3 HOTP with SHA-1 and 6 digits, written here independently of otpauth, so the tests
 * check the service against the RFC rather than against the library it uses.
 */
function hotp(base32Secret: string, counter: number): string {
  const mac = createHmac('sha1', base32Decode(base32Secret));
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = mac.update(message).digest();
  const offset = (digest[19] ?? 0) & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of text.replace(/=+$/, '')) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

const stepAt = (ms: number): number => Math.floor(ms / step);

describe('TotpService', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let clock: ManualClock;
  let totp: TotpService;
  const extraStores: Store[] = [];

  function serviceOn(on: Store): TotpService {
    const logger = createLogger({ destination: { write: () => {} } });
    return new TotpService({ store: on.mfa, users: on.users, keyring, clock, random: cryptoRandom, issuer: 'Gatehouse', audit: new AuditLog({ store: on.audit, logger, clock }) });
  }

  async function addUser(name: string): Promise<void> {
    await store.users.create({ name, roles: ['user'], passwordHash: 'x', locked: false, passwordResetRequired: false, mfaEnabled: false, createdAt: clock.now(), lastLoginAt: null });
  }

  /** Sets up and confirms; returns the secret. The confirming code (current step) is spent. */
  async function enrol(name: string, service: TotpService = totp): Promise<{ secret: string; recoveryCodes: string[] }> {
    const setup = await service.setup(name);
    if (setup === 'already_enabled') throw new Error('already enabled');
    const confirmed = await service.confirm(name, hotp(setup.secret, stepAt(clock.now())));
    if (confirmed === 'invalid_code') throw new Error('confirm failed');
    return { secret: setup.secret, recoveryCodes: confirmed.recoveryCodes };
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-totp-'));
    dbPath = join(dir, 'gatehouse.db');
    store = openSqliteStore(dbPath);
    clock = new ManualClock(start);
    totp = serviceOn(store);
    await addUser('alice');
    await addUser('bob');
  });

  afterEach(async () => {
    for (const extra of extraStores.splice(0)) await extra.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('setup', () => {
    test('returns a 160-bit base32 secret, its otpauth URL (SHA1, 6 digits, 30 s, issuer) and a QR code', async () => {
      const setup = await totp.setup('alice@example.com');
      if (setup === 'already_enabled') throw new Error('unexpected');
      expect(setup.secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(base32Decode(setup.secret)).toHaveLength(20);
      const parsed = URI.parse(setup.otpauthUrl);
      expect(setup.otpauthUrl.startsWith('otpauth://totp/Gatehouse:alice%40example.com?')).toBe(true);
      expect(parsed).toMatchObject({ issuer: 'Gatehouse', label: 'alice@example.com', algorithm: 'SHA1', digits: 6, period: 30 });
      expect(parsed.secret.base32).toBe(setup.secret);
    });

    test('the QR code is an SVG document with no script, event handler or external reference', async () => {
      const setup = await totp.setup('alice');
      if (setup === 'already_enabled') throw new Error('unexpected');
      expect(setup.qrSvg.startsWith('<svg')).toBe(true);
      expect(setup.qrSvg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(setup.qrSvg).not.toMatch(/<script|\son[a-z]+\s*=|href|<foreignObject|javascript:/i);
      // The secret is in the QR code's modules, never in its text.
      expect(setup.qrSvg).not.toContain(setup.secret);
    });

    test('each setup draws a new secret; the codes of a replaced pending secret no longer confirm', async () => {
      const first = await totp.setup('alice');
      const second = await totp.setup('alice');
      if (first === 'already_enabled' || second === 'already_enabled') throw new Error('unexpected');
      expect(second.secret).not.toBe(first.secret);
      expect(await totp.confirm('alice', hotp(first.secret, stepAt(clock.now())))).toBe('invalid_code');
      expect(await totp.confirm('alice', hotp(second.secret, stepAt(clock.now())))).not.toBe('invalid_code');
    });

    test('is refused once an enrolment is confirmed', async () => {
      await enrol('alice');
      expect(await totp.setup('alice')).toBe('already_enabled');
    });
  });

  describe('confirm', () => {
    test('a right code enables MFA, returns ten distinct recovery codes and audits the enrolment', async () => {
      const { recoveryCodes } = await enrol('alice');
      expect(recoveryCodes).toHaveLength(10);
      expect(new Set(recoveryCodes).size).toBe(10);
      for (const code of recoveryCodes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
      expect((await store.users.get('alice'))?.mfaEnabled).toBe(true);
      expect(await totp.isEnrolled('alice')).toBe(true);
      const events = await store.audit.recent(10);
      expect(events.find((e) => e.type === 'mfa_enrolled')).toMatchObject({ user: 'alice', detail: { method: 'totp' } });
      expect(JSON.stringify(events)).not.toContain(recoveryCodes[0]);
    });

    test('a wrong, malformed or missing-enrolment code does not confirm', async () => {
      expect(await totp.confirm('alice', '123456')).toBe('invalid_code');
      const setup = await totp.setup('alice');
      if (setup === 'already_enabled') throw new Error('unexpected');
      const right = hotp(setup.secret, stepAt(clock.now()));
      const wrong = right === '000000' ? '000001' : '000000';
      expect(await totp.confirm('alice', wrong)).toBe('invalid_code');
      expect(await totp.confirm('alice', `${right} `)).toBe('invalid_code');
      expect(await totp.isEnrolled('alice')).toBe(false);
      expect((await store.users.get('alice'))?.mfaEnabled).toBe(false);
    });

    test('the confirming code cannot be used again to log in', async () => {
      const setup = await totp.setup('alice');
      if (setup === 'already_enabled') throw new Error('unexpected');
      const code = hotp(setup.secret, stepAt(clock.now()));
      expect(await totp.confirm('alice', code)).not.toBe('invalid_code');
      expect(await totp.verify('alice', code)).toBe(false);
      clock.advance(step);
      expect(await totp.verify('alice', code)).toBe(false);
    });

    test('of two concurrent confirmations, one wins and one set of recovery codes exists', async () => {
      const setup = await totp.setup('alice');
      if (setup === 'already_enabled') throw new Error('unexpected');
      const now = stepAt(clock.now());
      const results = await Promise.all([totp.confirm('alice', hotp(setup.secret, now)), totp.confirm('alice', hotp(setup.secret, now + 1))]);
      expect(results.filter((r) => r !== 'invalid_code')).toHaveLength(1);
      expect(await store.mfa.countRecoveryCodes('alice')).toBe(10);
    });
  });

  describe('verify', () => {
    test('accepts the codes of steps t-1, t and t+1', async () => {
      const { secret } = await enrol('alice');
      clock.advance(10 * step);
      expect(await totp.verify('alice', hotp(secret, stepAt(clock.now()) - 1))).toBe(true);
      clock.advance(10 * step);
      expect(await totp.verify('alice', hotp(secret, stepAt(clock.now())))).toBe(true);
      clock.advance(10 * step);
      expect(await totp.verify('alice', hotp(secret, stepAt(clock.now()) + 1))).toBe(true);
    });

    test('refuses t-2 and t+2, which a one-step move of the clock brings into the window', async () => {
      const { secret } = await enrol('alice');
      clock.advance(10 * step);
      const t = stepAt(clock.now());
      expect(await totp.verify('alice', hotp(secret, t - 2))).toBe(false);
      clock.advance(-step);
      // Proves the refusal above was the window, not a replay rule.
      expect(await totp.verify('alice', hotp(secret, t - 2))).toBe(true);
      clock.advance(step);
      expect(await totp.verify('alice', hotp(secret, t + 2))).toBe(false);
      clock.advance(step);
      expect(await totp.verify('alice', hotp(secret, t + 2))).toBe(true);
    });

    test('the window is exact at step boundaries', async () => {
      const { secret } = await enrol('alice');
      clock.set((stepAt(clock.now()) + 10) * step); // the first millisecond of a step
      const t = stepAt(clock.now());
      expect(await totp.verify('alice', hotp(secret, t - 2))).toBe(false);
      clock.advance(-1); // the last millisecond of the step before
      expect(await totp.verify('alice', hotp(secret, t + 1))).toBe(false);
      expect(await totp.verify('alice', hotp(secret, t - 2))).toBe(true);
    });

    test('a code is accepted once: the same code twice is refused', async () => {
      const { secret } = await enrol('alice');
      clock.advance(step);
      const code = hotp(secret, stepAt(clock.now()));
      expect(await totp.verify('alice', code)).toBe(true);
      expect(await totp.verify('alice', code)).toBe(false);
      clock.advance(step); // still inside the window as t-1
      expect(await totp.verify('alice', code)).toBe(false);
    });

    test('after a newer step was used, an older code inside the window is refused', async () => {
      const { secret } = await enrol('alice');
      clock.advance(10 * step);
      const t = stepAt(clock.now());
      expect(await totp.verify('alice', hotp(secret, t + 1))).toBe(true);
      expect(await totp.verify('alice', hotp(secret, t))).toBe(false);
      expect(await totp.verify('alice', hotp(secret, t - 1))).toBe(false);
    });

    test('a code used through one gateway process is refused by another sharing the store', async () => {
      const { secret } = await enrol('alice');
      const other = openSqliteStore(dbPath);
      extraStores.push(other);
      const otherTotp = serviceOn(other);
      clock.advance(step);
      const code = hotp(secret, stepAt(clock.now()));
      expect(await totp.verify('alice', code)).toBe(true);
      expect(await otherTotp.verify('alice', code)).toBe(false);

      clock.advance(step);
      const next = hotp(secret, stepAt(clock.now()));
      const results = await Promise.all([totp.verify('alice', next), otherTotp.verify('alice', next), totp.verify('alice', next), otherTotp.verify('alice', next)]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test('refuses a wrong code, malformed input, a pending enrolment and an unknown user', async () => {
      const { secret } = await enrol('alice');
      clock.advance(step);
      const right = hotp(secret, stepAt(clock.now()));
      const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
      expect(await totp.verify('alice', wrong)).toBe(false);
      for (const malformed of ['', '12345', '1234567', 'abcdef', ` ${right.slice(1)}`, `${right}\n`, '１２３４５６', '12345.', '-12345']) {
        expect(await totp.verify('alice', malformed)).toBe(false);
      }
      expect(await totp.verify('alice', right)).toBe(true);

      const pending = await totp.setup('bob');
      if (pending === 'already_enabled') throw new Error('unexpected');
      expect(await totp.verify('bob', hotp(pending.secret, stepAt(clock.now())))).toBe(false);
      expect(await totp.verify('nobody', right)).toBe(false);
    });

    test("a code of one user's secret does not work for another", async () => {
      const alice = await enrol('alice');
      await enrol('bob');
      clock.advance(step);
      expect(await totp.verify('bob', hotp(alice.secret, stepAt(clock.now())))).toBe(false);
    });
  });

  describe('secret at rest', () => {
    test('the database holds the secret only sealed', async () => {
      const { secret } = await enrol('alice');
      const hex = base32Decode(secret).toString('hex');
      const raw = new Database(dbPath, { readonly: true });
      try {
        const rows = raw.prepare('SELECT * FROM totp_enrolments').all();
        expect(rows).toHaveLength(1);
        const dump = JSON.stringify(rows);
        expect(dump).toMatch(/"v1\./);
        expect(dump).not.toContain(secret);
        expect(dump.toLowerCase()).not.toContain(hex);
      } finally {
        raw.close();
      }
      // Nor anywhere in the files (the database and its write-ahead log), in any encoding tried.
      for (const file of readdirSync(dir)) {
        const bytes = readFileSync(join(dir, file));
        expect(bytes.includes(Buffer.from(secret, 'utf8'))).toBe(false);
        expect(bytes.includes(base32Decode(secret))).toBe(false);
      }
    });

    test("a sealed secret copied to another user's row does not open (aad binds it to the name)", async () => {
      await enrol('alice');
      await enrol('bob');
      const raw = new Database(dbPath);
      try {
        raw.prepare("UPDATE totp_enrolments SET sealed_secret = (SELECT sealed_secret FROM totp_enrolments WHERE user_name = 'alice') WHERE user_name = 'bob'").run();
      } finally {
        raw.close();
      }
      await expect(totp.verify('bob', '123456')).rejects.toBeInstanceOf(SealError);
    });
  });

  describe('recovery codes', () => {
    test('each works once, typed in any case with or without dashes and spaces', async () => {
      const { recoveryCodes } = await enrol('alice');
      const [first, second, third] = recoveryCodes as [string, string, string];
      expect(await totp.useRecoveryCode('alice', first)).toBe(true);
      expect(await totp.useRecoveryCode('alice', first)).toBe(false);
      expect(await totp.useRecoveryCode('alice', second.toLowerCase().replace(/-/g, ''))).toBe(true);
      expect(await totp.useRecoveryCode('alice', ` ${third.replace(/-/g, ' ')} `)).toBe(true);
      expect(await totp.useRecoveryCode('alice', third)).toBe(false);
      expect(await totp.remainingRecoveryCodes('alice')).toBe(7);
      const used = (await store.audit.recent(20)).filter((e) => e.type === 'recovery_code_used');
      expect(used[0]).toMatchObject({ user: 'alice', detail: { remaining: 7 } });
      expect(JSON.stringify(used)).not.toContain(first.slice(0, 5));
    });

    test("are stored hashed, and one user's code does not work for another", async () => {
      const alice = await enrol('alice');
      await enrol('bob');
      const raw = new Database(dbPath, { readonly: true });
      try {
        const dump = JSON.stringify(raw.prepare('SELECT * FROM recovery_codes').all());
        for (const code of alice.recoveryCodes) {
          expect(dump).not.toContain(code);
          expect(dump).not.toContain(code.replace(/-/g, ''));
        }
      } finally {
        raw.close();
      }
      expect(await totp.useRecoveryCode('bob', alice.recoveryCodes[0] as string)).toBe(false);
    });

    test('refuses malformed input without a store lookup, and a concurrent double use succeeds once', async () => {
      const { recoveryCodes } = await enrol('alice');
      for (const bad of ['', 'x', '0'.repeat(16), 'U'.repeat(15), `${recoveryCodes[0]}0`, 'a'.repeat(10_000)]) {
        expect(await totp.useRecoveryCode('alice', bad)).toBe(false);
      }
      const code = recoveryCodes[1] as string;
      const results = await Promise.all([totp.useRecoveryCode('alice', code), totp.useRecoveryCode('alice', code), totp.useRecoveryCode('alice', code)]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('disable and reset', () => {
    test('disable removes TOTP and recovery codes; MFA stays on only while a passkey remains', async () => {
      const { recoveryCodes, secret } = await enrol('alice');
      await store.mfa.addPasskey({ id: 'cred-1', userName: 'alice', name: 'Phone', publicKey: Buffer.from([1]), counter: 0, transports: [], createdAt: clock.now(), lastUsedAt: null }, 10);
      expect(await totp.disable('alice', { user: 'alice' })).toBe(true);
      expect(await totp.isEnrolled('alice')).toBe(false);
      expect(await totp.useRecoveryCode('alice', recoveryCodes[0] as string)).toBe(false);
      clock.advance(step);
      expect(await totp.verify('alice', hotp(secret, stepAt(clock.now())))).toBe(false);
      expect((await store.users.get('alice'))?.mfaEnabled).toBe(true);
      expect((await store.audit.recent(5)).find((e) => e.type === 'mfa_removed')).toMatchObject({ user: 'alice', detail: { method: 'totp', by: 'alice' } });

      await enrol('bob');
      await totp.disable('bob', { user: 'bob' });
      expect((await store.users.get('bob'))?.mfaEnabled).toBe(false);
      // A fresh enrolment is possible afterwards.
      expect(await totp.setup('bob')).not.toBe('already_enabled');
    });

    test('resetAll removes TOTP, recovery codes and passkeys and turns MFA off', async () => {
      const { recoveryCodes } = await enrol('alice');
      await store.mfa.addPasskey({ id: 'cred-1', userName: 'alice', name: 'Phone', publicKey: Buffer.from([1]), counter: 0, transports: [], createdAt: clock.now(), lastUsedAt: null }, 10);
      await totp.resetAll('alice', { user: 'cli' });
      expect(await totp.isEnrolled('alice')).toBe(false);
      expect(await store.mfa.listPasskeys('alice')).toEqual([]);
      expect(await totp.useRecoveryCode('alice', recoveryCodes[0] as string)).toBe(false);
      expect((await store.users.get('alice'))?.mfaEnabled).toBe(false);
      expect((await store.audit.recent(5)).find((e) => e.type === 'mfa_removed')).toMatchObject({ user: 'alice', detail: { method: 'all', by: 'cli' } });
    });
  });
});
