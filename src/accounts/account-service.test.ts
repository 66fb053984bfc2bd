import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { AuditLog, type AuditContext } from '../audit/audit-log.js';
import { createLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { AccountError, AccountService } from './account-service.js';
import * as password from './password.js';

// Wraps the real functions so the tests can count argon2 work per call.
vi.mock('./password.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./password.js')>();
  return { ...actual, hashPassword: vi.fn(actual.hashPassword), verifyPassword: vi.fn(actual.verifyPassword) };
});

const cli: AuditContext = { user: 'cli' };
const goodPassword = 'correct horse battery staple';
const otherPassword = 'another long passphrase!';

interface RevokeCall {
  userName: string;
  actor: AuditContext;
  reason: string;
}

describe('AccountService', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let revoked: RevokeCall[];
  let logLines: string[];
  let accounts: AccountService;
  /** Runs inside each revokeUserSessions call, to see the store as the revocation saw it. */
  let onRevoke: (userName: string) => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-accounts-'));
    store = openSqliteStore(join(dir, 'gatehouse.db'));
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    revoked = [];
    logLines = [];
    onRevoke = async () => {};
    const logger = createLogger({ destination: { write: (line: string) => void logLines.push(line) } });
    accounts = new AccountService({
      users: store.users,
      revokeUserSessions: async (userName, actor, reason) => {
        revoked.push({ userName, actor, reason });
        await onRevoke(userName);
        return 0;
      },
      audit: new AuditLog({ store: store.audit, logger, clock }),
      clock,
      random: cryptoRandom,
    });
    await accounts.init();
    vi.mocked(password.hashPassword).mockClear();
    vi.mocked(password.verifyPassword).mockClear();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const addAlice = (overrides: { roles?: string[]; requireReset?: boolean } = {}): Promise<'created' | 'exists'> =>
    accounts.add({ name: 'alice', roles: overrides.roles ?? ['user'], password: goodPassword, requireReset: overrides.requireReset ?? false }, cli);

  async function accountError(promise: Promise<unknown>): Promise<AccountError> {
    const error = await promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccountError);
    return error as AccountError;
  }

  async function eventTypes(): Promise<string[]> {
    return (await store.audit.recent(100)).map((e) => e.type);
  }

  describe('add', () => {
    test('creates the user with a hashed password and audits user_created', async () => {
      expect(await addAlice({ roles: ['user', 'admin', 'user'], requireReset: true })).toBe('created');
      const alice = await accounts.get('alice');
      expect(alice).toMatchObject({
        name: 'alice', roles: ['user', 'admin'], locked: false, passwordResetRequired: true, mfaEnabled: false, createdAt: clock.now(), lastLoginAt: null,
      });
      expect(alice?.passwordHash.startsWith('$argon2id$')).toBe(true);
      expect(await password.verifyPassword(alice?.passwordHash ?? '', goodPassword)).toBe(true);
      expect(await store.audit.recent(10)).toEqual([{
        time: clock.now(), type: 'user_created', user: 'alice', ip: null, requestId: null, detail: { by: 'cli', roles: 'user,admin', requireReset: true },
      }]);
    });

    test('an existing name: exists, nothing changed, nothing audited', async () => {
      await addAlice();
      const before = await accounts.get('alice');
      expect(await accounts.add({ name: 'alice', roles: ['admin'], password: otherPassword, requireReset: false }, cli)).toBe('exists');
      expect(await accounts.get('alice')).toEqual(before);
      expect(await eventTypes()).toEqual(['user_created']);
    });

    test('concurrent adds of one name: exactly one is created', async () => {
      const outcomes = await Promise.all([addAlice(), addAlice(), addAlice()]);
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    });

    test.each(['', 'a'.repeat(65), 'has space', 'slash/name', 'ünicode', 'new\nline', 'colon:name', '-bob', '--all'])('refuses the name %j', async (name) => {
      const error = await accountError(accounts.add({ name, roles: [], password: goodPassword, requireReset: false }, cli));
      expect(error.code).toBe('invalid_name');
      expect(await accounts.list()).toEqual([]);
    });

    test.each(['a', 'a'.repeat(64), 'alice@example.com', 'first.last', 'under_score', 'dash-ed', '007', '_x', '.dot', '@at'])('accepts the name %j', async (name) => {
      expect(await accounts.add({ name, roles: [], password: goodPassword, requireReset: false }, cli)).toBe('created');
    });

    test('refuses a role the configuration could never name', async () => {
      const error = await accountError(accounts.add({ name: 'alice', roles: ['user', 'bad role'], password: goodPassword, requireReset: false }, cli));
      expect(error.code).toBe('invalid_role');
      expect(await accounts.get('alice')).toBeNull();
    });

    test.each([['short', 'short pass'], ['too long', 'x'.repeat(1025)]])('refuses a %s password without hashing or echoing it', async (_, weak) => {
      const error = await accountError(accounts.add({ name: 'alice', roles: [], password: weak, requireReset: false }, cli));
      expect(error.code).toBe('weak_password');
      expect(error.message).not.toContain(weak);
      expect(password.hashPassword).not.toHaveBeenCalled();
      expect(await accounts.get('alice')).toBeNull();
    });

    test('the password appears in no audit event and no log line', async () => {
      await addAlice();
      await accounts.setPassword('alice', otherPassword, cli);
      const events = JSON.stringify(await store.audit.recent(100));
      const logs = logLines.join('\n');
      for (const secret of [goodPassword, otherPassword]) {
        expect(events).not.toContain(secret);
        expect(logs).not.toContain(secret);
      }
    });
  });

  describe('setPassword', () => {
    test('replaces the password, clears a pending reset, revokes sessions after the change, audits', async () => {
      await addAlice({ requireReset: true });
      onRevoke = async (name) => {
        // The revocation must see the new hash, so sessions opened with the old password are caught.
        expect(await password.verifyPassword((await store.users.get(name))?.passwordHash ?? '', otherPassword)).toBe(true);
      };
      expect(await accounts.setPassword('alice', otherPassword, cli)).toBe(true);
      expect(await accounts.authenticate('alice', otherPassword)).not.toBeNull();
      expect(await accounts.authenticate('alice', goodPassword)).toBeNull();
      expect((await accounts.get('alice'))?.passwordResetRequired).toBe(false);
      expect(revoked).toEqual([{ userName: 'alice', actor: cli, reason: 'password_set' }]);
      const [event] = await store.audit.recent(1);
      expect(event).toMatchObject({ type: 'password_changed', user: 'alice', detail: { by: 'cli' } });
    });

    test('an unknown user: false, nothing revoked or audited', async () => {
      expect(await accounts.setPassword('nobody', otherPassword, cli)).toBe(false);
      expect(revoked).toEqual([]);
      expect(await eventTypes()).toEqual([]);
    });

    test('a weak password is refused and changes nothing', async () => {
      await addAlice();
      expect((await accountError(accounts.setPassword('alice', 'short', cli))).code).toBe('weak_password');
      expect(await accounts.authenticate('alice', goodPassword)).not.toBeNull();
      expect(revoked).toEqual([]);
    });
  });

  describe('requireReset', () => {
    test('sets the flag, revokes sessions, audits', async () => {
      await addAlice();
      expect(await accounts.requireReset('alice', cli)).toBe(true);
      expect((await accounts.get('alice'))?.passwordResetRequired).toBe(true);
      expect(revoked).toEqual([{ userName: 'alice', actor: cli, reason: 'password_reset_required' }]);
      expect((await eventTypes())[0]).toBe('password_reset_required');
    });

    test('an unknown user: false, nothing revoked', async () => {
      expect(await accounts.requireReset('nobody', cli)).toBe(false);
      expect(revoked).toEqual([]);
    });
  });

  describe('lock and unlock', () => {
    test('a locked user cannot log in, even with the right password; unlocking lets them in again', async () => {
      await addAlice();
      expect(await accounts.lock('alice', cli)).toBe(true);
      expect((await accounts.get('alice'))?.locked).toBe(true);
      expect(revoked).toEqual([{ userName: 'alice', actor: cli, reason: 'user_locked' }]);
      expect(await accounts.authenticate('alice', goodPassword)).toBeNull();

      expect(await accounts.unlock('alice', cli)).toBe(true);
      expect(await accounts.authenticate('alice', goodPassword)).toMatchObject({ name: 'alice', locked: false });
      expect(revoked).toHaveLength(1);
      expect((await eventTypes()).slice(0, 2)).toEqual(['user_unlocked', 'user_locked']);
    });

    test('unknown users: false, nothing revoked or audited', async () => {
      expect(await accounts.lock('nobody', cli)).toBe(false);
      expect(await accounts.unlock('nobody', cli)).toBe(false);
      expect(revoked).toEqual([]);
      expect(await eventTypes()).toEqual([]);
    });
  });

  describe('remove', () => {
    test('deletes the user, then revokes their sessions, audits', async () => {
      await addAlice();
      onRevoke = async (name) => {
        expect(await store.users.get(name)).toBeNull();
      };
      expect(await accounts.remove('alice', cli)).toBe(true);
      expect(await accounts.get('alice')).toBeNull();
      expect(revoked).toEqual([{ userName: 'alice', actor: cli, reason: 'user_removed' }]);
      expect((await eventTypes())[0]).toBe('user_removed');
    });

    test('an unknown user: false and not audited, but any leftover sessions under the name are still revoked', async () => {
      expect(await accounts.remove('nobody', cli)).toBe(false);
      expect(revoked).toEqual([{ userName: 'nobody', actor: cli, reason: 'user_removed' }]);
      expect(await eventTypes()).toEqual([]);
    });
  });

  test('list and get', async () => {
    await accounts.add({ name: 'bob', roles: [], password: goodPassword, requireReset: false }, cli);
    await addAlice();
    expect((await accounts.list()).map((u) => u.name)).toEqual(['alice', 'bob']);
    expect(await accounts.get('bob')).toMatchObject({ name: 'bob', roles: [] });
    expect(await accounts.get('nobody')).toBeNull();
  });

  describe('authenticate', () => {
    test('the right password gives the user', async () => {
      await addAlice();
      expect(await accounts.authenticate('alice', goodPassword)).toMatchObject({ name: 'alice', roles: ['user'] });
    });

    test.each([
      ['a wrong password', 'alice', otherPassword],
      ['an unknown user', 'nobody', goodPassword],
      ['a name that is not valid', 'not a valid name!', goodPassword],
      ['an over-long password', 'alice', 'x'.repeat(1025)],
      ['an empty password', 'alice', ''],
    ])('%s gives null', async (_, name, attempt) => {
      await addAlice();
      expect(await accounts.authenticate(name, attempt)).toBeNull();
    });

    test('every case costs exactly one argon2 verification and no hashing', async () => {
      await addAlice();
      await accounts.add({ name: 'locked', roles: [], password: goodPassword, requireReset: false }, cli);
      await accounts.lock('locked', cli);
      const cases: [string, string][] = [
        ['alice', goodPassword],
        ['alice', otherPassword],
        ['nobody', goodPassword],
        ['locked', goodPassword],
        ['not a valid name!', goodPassword],
        ['alice', 'x'.repeat(100_000)],
        ['nobody', 'x'.repeat(100_000)],
      ];
      for (const [name, attempt] of cases) {
        vi.mocked(password.verifyPassword).mockClear();
        vi.mocked(password.hashPassword).mockClear();
        await accounts.authenticate(name, attempt);
        expect(password.verifyPassword, `${name} / ${attempt.length}`).toHaveBeenCalledTimes(1);
        expect(password.hashPassword).not.toHaveBeenCalled();
      }
    });

    test('an over-long password is never handed to argon2', async () => {
      await addAlice();
      await accounts.authenticate('alice', 'x'.repeat(100_000));
      const [[, given]] = vi.mocked(password.verifyPassword).mock.calls as [[string, string]];
      expect(given.length).toBeLessThanOrEqual(1024);
    });

    test('an unknown user is verified against the dummy hash, not skipped', async () => {
      await accounts.authenticate('nobody', goodPassword);
      const [[hashed]] = vi.mocked(password.verifyPassword).mock.calls as [[string, string]];
      expect(hashed.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    });

    test('a user without a password (created by an identity provider) never logs in locally, and is verified against the dummy hash like an unknown user', async () => {
      const now = clock.now();
      expect(await store.users.create({ name: 'corp.erin', roles: ['user'], passwordHash: '', locked: false, passwordResetRequired: false, mfaEnabled: false, createdAt: now, lastLoginAt: null })).toBeTruthy();
      for (const attempt of ['', goodPassword]) {
        vi.mocked(password.verifyPassword).mockClear();
        expect(await accounts.authenticate('corp.erin', attempt)).toBeNull();
        const [[hashed]] = vi.mocked(password.verifyPassword).mock.calls as [[string, string]];
        expect(hashed.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
      }
    });

    test('passwordVerifications counts exactly the argon2 verifications, changePassword included', async () => {
      await addAlice();
      const before = accounts.passwordVerifications;
      await accounts.authenticate('alice', goodPassword);
      await accounts.authenticate('nobody', goodPassword);
      await accounts.authenticate('no such user!', 'x'.repeat(2000));
      await accounts.changePassword('alice', 'not the password', otherPassword);
      expect(accounts.passwordVerifications - before).toBe(4);
      expect(password.verifyPassword).toHaveBeenCalledTimes(4);
    });

    test('refuses to run before init()', async () => {
      const fresh = new AccountService({
        users: store.users, revokeUserSessions: async () => 0, audit: new AuditLog({ store: store.audit, logger: createLogger({ destination: { write: () => {} } }), clock }), clock, random: cryptoRandom,
      });
      await expect(fresh.authenticate('alice', goodPassword)).rejects.toThrow('init()');
    });
  });

  describe('changePassword', () => {
    test('changes the password, clears a pending reset, audits, and leaves sessions to the caller', async () => {
      await addAlice({ requireReset: true });
      expect(await accounts.changePassword('alice', goodPassword, otherPassword, { ip: '203.0.113.9', requestId: 'r-1' })).toBe('changed');
      expect(await accounts.authenticate('alice', otherPassword)).not.toBeNull();
      expect(await accounts.authenticate('alice', goodPassword)).toBeNull();
      expect((await accounts.get('alice'))?.passwordResetRequired).toBe(false);
      expect(revoked).toEqual([]);
      const [event] = await store.audit.recent(1);
      expect(event).toMatchObject({ type: 'password_changed', user: 'alice', ip: '203.0.113.9', requestId: 'r-1', detail: { by: 'alice' } });
    });

    test('a wrong current password: invalid_credentials, nothing changed', async () => {
      await addAlice();
      expect(await accounts.changePassword('alice', otherPassword, 'a brand new passphrase')).toBe('invalid_credentials');
      expect(await accounts.authenticate('alice', goodPassword)).not.toBeNull();
    });

    test('a weak new password: weak_password, nothing changed', async () => {
      await addAlice();
      expect(await accounts.changePassword('alice', goodPassword, 'short')).toBe('weak_password');
      expect(await accounts.changePassword('alice', goodPassword, 'x'.repeat(1025))).toBe('weak_password');
      expect(await accounts.authenticate('alice', goodPassword)).not.toBeNull();
    });

    test('a locked or unknown user: invalid_credentials', async () => {
      await addAlice();
      await accounts.lock('alice', cli);
      expect(await accounts.changePassword('alice', goodPassword, otherPassword)).toBe('invalid_credentials');
      expect(await accounts.changePassword('nobody', goodPassword, otherPassword)).toBe('invalid_credentials');
    });
  });

  test('recordLogin sets lastLoginAt to now', async () => {
    await addAlice();
    clock.advance(5_000);
    await accounts.recordLogin('alice');
    expect((await accounts.get('alice'))?.lastLoginAt).toBe(clock.now());
  });
});
