import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { createLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { SealError } from './envelope.js';
import { keyIdOf, MasterKeyError, type Keyring } from './keyring.js';
import { SecretError, SecretService } from './secret-service.js';
import { keyringOf } from '../../test/helpers/keyring.js';

const keyA = Buffer.alloc(32, 0xa1);
const keyB = Buffer.alloc(32, 0xb2);
const actor = { user: 'cli' };
const value = 'tok_live_9f8e7d6c5b4a';

describe('SecretService', () => {
  let store: Store;
  let clock: ManualClock;
  let logLines: string[];

  function service(keyring: Keyring = keyringOf(keyA)): SecretService {
    const logger = createLogger({ destination: { write: (line: string) => void logLines.push(line) } });
    const audit = new AuditLog({ store: store.audit, logger, clock });
    return new SecretService({ store: store.secrets, meta: store.meta, keyring, clock, random: cryptoRandom, audit });
  }

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    logLines = [];
  });
  afterEach(async () => {
    await store.close();
  });

  describe('verifyMasterKey', () => {
    test('on a fresh store records a sealed check value, then accepts the same key', async () => {
      await service().verifyMasterKey();
      const check = await store.meta.get('master-key-check');
      expect(check).toMatch(new RegExp(`^v1\\.${keyIdOf(keyA)}\\.`));
      await service().verifyMasterKey();
      expect(await store.meta.get('master-key-check')).toBe(check);
    });

    test('refuses another master key, naming key ids only', async () => {
      await service(keyringOf(keyA)).verifyMasterKey();
      const error = await service(keyringOf(keyB)).verifyMasterKey().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MasterKeyError);
      expect((error as MasterKeyError).message).toMatch(/^masterKey does not match the key this store was created with/);
      expect((error as MasterKeyError).message).toContain(keyIdOf(keyA));
      expect((error as MasterKeyError).message).not.toContain(keyA.toString('base64'));
      expect((error as MasterKeyError).message).not.toContain(keyB.toString('base64'));
    });

    test('accepts a rotated keyring that still lists the original key', async () => {
      await service(keyringOf(keyA)).verifyMasterKey();
      await expect(service(keyringOf(keyB, keyA)).verifyMasterKey()).resolves.toBeUndefined();
    });

    test('refuses a check value that was altered', async () => {
      await service().verifyMasterKey();
      const check = (await store.meta.get('master-key-check')) ?? '';
      const parts = check.split('.');
      const tag = Buffer.from(parts[4] ?? '', 'base64url');
      tag[0] = (tag[0] ?? 0) ^ 1;
      parts[4] = tag.toString('base64url');
      await store.meta.set('master-key-check', parts.join('.'));
      await expect(service().verifyMasterKey()).rejects.toThrow(/failed authentication .* the store was altered/);
      await store.meta.set('master-key-check', 'garbage');
      await expect(service().verifyMasterKey()).rejects.toThrow(/check value in the store is damaged/);
    });

    test('two gateways with different keys starting on one fresh store: the first wins, the other is refused', async () => {
      const results = await Promise.allSettled([service(keyringOf(keyA)).verifyMasterKey(), service(keyringOf(keyB)).verifyMasterKey()]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    });
  });

  describe('set and reveal', () => {
    test('round trip, stored sealed under the primary key, with the clock time', async () => {
      const secrets = service();
      await secrets.set('weather-token', value, actor);
      expect(await secrets.reveal('weather-token')).toBe(value);
      const record = await store.secrets.get('weather-token');
      expect(record?.updatedAt).toBe(clock.now());
      expect(record?.sealed.startsWith(`v1.${keyIdOf(keyA)}.`)).toBe(true);
      expect(record?.sealed).not.toContain(value);
    });

    test('set replaces the value and the update time', async () => {
      const secrets = service();
      await secrets.set('weather-token', 'first-value', actor);
      clock.advance(60_000);
      await secrets.set('weather-token', 'second-value', actor);
      expect(await secrets.reveal('weather-token')).toBe('second-value');
      expect(await secrets.list()).toEqual([{ name: 'weather-token', updatedAt: clock.now() }]);
    });

    test('unicode and whitespace are kept exactly', async () => {
      const secrets = service();
      await secrets.set('t', ' päss wörd ✓\t', actor);
      expect(await secrets.reveal('t')).toBe(' päss wörd ✓\t');
    });

    test('reveal of a missing secret is null', async () => {
      expect(await service().reveal('missing')).toBeNull();
    });

    test('a sealed value copied to another name does not open (rows swapped)', async () => {
      const secrets = service();
      await secrets.set('a-token', 'value-of-a', actor);
      await secrets.set('b-token', 'value-of-b', actor);
      const a = await store.secrets.get('a-token');
      await store.secrets.put({ name: 'b-token', sealed: a?.sealed ?? '', updatedAt: 0 });
      await expect(secrets.reveal('b-token')).rejects.toThrow(SealError);
    });

    test('a value sealed under a key that is no longer configured is refused', async () => {
      await service(keyringOf(keyA)).set('t', value, actor);
      await expect(service(keyringOf(keyB)).reveal('t')).rejects.toThrow('not configured');
    });

    test('set audits secret_set with the name only; the value appears in no audit event and no log line', async () => {
      await service().set('weather-token', value, { user: 'cli', ip: null, requestId: 'r-1' });
      expect(await store.audit.recent(10)).toEqual([
        { time: clock.now(), type: 'secret_set', user: null, ip: null, requestId: 'r-1', detail: { name: 'weather-token', by: 'cli' } },
      ]);
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.join('\n')).not.toContain(value);
    });

    test.each([
      ['empty', ''],
      ['starting with a dot', '.hidden'],
      ['with a slash', 'a/b'],
      ['with a space', 'a b'],
      ['65 characters long', `a${'b'.repeat(64)}`],
      ['non-ASCII', 'tökén'],
    ])('refuses a name that is %s, without echoing it, storing or auditing nothing', async (_, name) => {
      const error = await service().set(name, value, actor).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SecretError);
      expect((error as SecretError).code).toBe('invalid_name');
      if (name.length > 1) expect((error as SecretError).message).not.toContain(name);
      expect(await store.secrets.list()).toEqual([]);
      expect(await store.audit.recent(10)).toEqual([]);
    });

    test('accepts every name the configuration accepts, up to 64 characters', async () => {
      const secrets = service();
      for (const name of ['a', 'A.b_c-d', '0token', `a${'b'.repeat(63)}`]) await secrets.set(name, value, actor);
      expect(await secrets.list()).toHaveLength(4);
    });

    test('refuses an empty value', async () => {
      const error = await service().set('t', '', actor).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SecretError);
      expect((error as SecretError).code).toBe('empty_value');
      expect(await store.secrets.get('t')).toBeNull();
    });
  });

  test('list gives names and update times only, in name order', async () => {
    const secrets = service();
    await secrets.set('zeta', value, actor);
    clock.advance(1_000);
    await secrets.set('alpha', value, actor);
    const listed = await secrets.list();
    expect(listed).toEqual([
      { name: 'alpha', updatedAt: clock.now() },
      { name: 'zeta', updatedAt: clock.now() - 1_000 },
    ]);
    expect(JSON.stringify(listed)).not.toContain('v1.');
  });

  test('remove deletes and audits secret_removed; a second remove is false and not audited', async () => {
    const secrets = service();
    await secrets.set('t', value, actor);
    expect(await secrets.remove('t', actor)).toBe(true);
    expect(await secrets.reveal('t')).toBeNull();
    expect(await secrets.remove('t', actor)).toBe(false);
    const events = await store.audit.recent(10);
    expect(events.map((e) => e.type)).toEqual(['secret_removed', 'secret_set']);
    expect(events[0]?.detail).toEqual({ name: 't', by: actor.user });
  });
});
