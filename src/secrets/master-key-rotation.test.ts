import { beforeEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import type { AuditEvent } from '../audit/audit-store.js';
import { silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { open, seal, sealedKeyId } from './envelope.js';
import { keyIdOf, type Keyring } from './keyring.js';
import { MasterKeyRotation, MasterKeyRotationError, type SealedSource } from './master-key-rotation.js';
import type { Resealable, SealedEntry } from './resealable.js';
import { keyringOf } from '../../test/helpers/keyring.js';

const oldKey = Buffer.alloc(32, 0x01);
const newKey = Buffer.alloc(32, 0x02);
const otherKey = Buffer.alloc(32, 0x03);
const both = keyringOf(newKey, oldKey);

/** An in-memory Resealable whose compare-and-set can be made to lose races on purpose. */
class MemoryResealable implements Resealable {
  readonly rows = new Map<string, { aad: string; sealed: string }>();
  /** Called before each replaceSealed: a concurrent writer stepping in. */
  beforeReplace: ((id: string) => void) | null = null;

  put(id: string, aad: string, plaintext: string, keyring: Keyring): void {
    this.rows.set(id, { aad, sealed: seal(keyring, aad, plaintext, cryptoRandom) });
  }

  plain(id: string, keyring: Keyring): string {
    const row = this.rows.get(id)!;
    return open(keyring, row.aad, row.sealed).toString('utf8');
  }

  async listSealed(): Promise<SealedEntry[]> {
    return [...this.rows].map(([id, row]) => ({ id, ...row }));
  }

  async replaceSealed(id: string, sealed: string, next: string): Promise<boolean> {
    this.beforeReplace?.(id);
    const row = this.rows.get(id);
    if (!row || row.sealed !== sealed) return false;
    row.sealed = next;
    return true;
  }
}

describe('MasterKeyRotation', () => {
  let secrets: MemoryResealable;
  let totp: MemoryResealable;
  let events: AuditEvent[];

  function rotation(keyring: Keyring = both): MasterKeyRotation {
    const audit = new AuditLog({ store: { append: async (e) => void events.push(e), recent: async () => [] }, logger: silentLogger(), clock: new ManualClock(0) });
    const sources: SealedSource[] = [{ name: 'secrets', store: secrets }, { name: 'TOTP secrets', store: totp }];
    return new MasterKeyRotation({ keyring, random: cryptoRandom, audit, sources });
  }

  async function failure(run: Promise<unknown>): Promise<MasterKeyRotationError> {
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MasterKeyRotationError);
    return error as MasterKeyRotationError;
  }

  beforeEach(() => {
    secrets = new MemoryResealable();
    totp = new MemoryResealable();
    events = [];
  });

  test('re-seals every value under the first key, keeps the plaintext and the aad, and reports counts', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    secrets.put('b', 'secret:b', 'value-b', keyringOf(newKey));
    totp.put('alice', 'totp:alice', 'JBSWY3DPEHPK3PXP', keyringOf(oldKey));
    const report = await rotation().rotate({ user: 'cli' });
    expect(report).toEqual({
      keyId: keyIdOf(newKey),
      resealed: 2,
      alreadyCurrent: 1,
      bySource: [{ name: 'secrets', resealed: 1, alreadyCurrent: 1 }, { name: 'TOTP secrets', resealed: 1, alreadyCurrent: 0 }],
    });
    const onlyNew = keyringOf(newKey);
    expect([secrets.plain('a', onlyNew), secrets.plain('b', onlyNew), totp.plain('alice', onlyNew)]).toEqual(['value-a', 'value-b', 'JBSWY3DPEHPK3PXP']);
    // Bound to the same purpose as before: the re-sealed value does not open as another row.
    expect(() => open(onlyNew, 'secret:b', secrets.rows.get('a')!.sealed)).toThrow();
    expect(events).toEqual([expect.objectContaining({ type: 'master_key_rotated', user: null, detail: { keyId: keyIdOf(newKey), resealed: 2, alreadyCurrent: 1, by: 'cli' } })]);
  });

  test('refuses a single configured key (exit 2 in the CLI): there is nothing to rotate to', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    const error = await failure(rotation(keyringOf(oldKey)).rotate({}));
    expect(error.code).toBe('single_key');
    expect(error.message).toContain('put a new key first');
  });

  test('refuses when everything is already under the first key: the new key is probably listed second', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    const error = await failure(rotation(keyringOf(oldKey, newKey)).rotate({}));
    expect(error.code).toBe('nothing_to_do');
    expect(error.message).toContain('put the NEW key first');
    expect(events).toEqual([]);
  });

  test('refuses before writing anything when a value is under a key that is not configured', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    secrets.put('z', 'secret:z', 'value-z', keyringOf(otherKey));
    const before = secrets.rows.get('a')!.sealed;
    const error = await failure(rotation().rotate({}));
    expect(error.code).toBe('unknown_key');
    expect(error.message).toBe(`secrets "z" is sealed under key id ${keyIdOf(otherKey)}, which masterKey does not list; add that key after the first one`);
    expect(secrets.rows.get('a')!.sealed).toBe(before);
  });

  test('a value that fails authentication stops the rotation, naming the row and never the value', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    // The row of "a" copied to "b": it does not open as b.
    secrets.rows.set('b', { aad: 'secret:b', sealed: secrets.rows.get('a')!.sealed });
    const error = await failure(rotation().rotate({}));
    expect(error.code).toBe('unopenable');
    expect(error.message).toMatch(/^secrets "b" cannot be opened/);
    expect(error.message).not.toContain('value-a');
  });

  test('a concurrent write under the new key wins the compare-and-set and is kept', async () => {
    secrets.put('a', 'secret:a', 'old value', keyringOf(oldKey));
    secrets.beforeReplace = (id) => {
      secrets.beforeReplace = null;
      secrets.put(id, 'secret:a', 'written meanwhile', both);
    };
    const report = await rotation().rotate({});
    expect(secrets.plain('a', keyringOf(newKey))).toBe('written meanwhile');
    expect(report.bySource[0]).toEqual({ name: 'secrets', resealed: 0, alreadyCurrent: 1 });
  });

  test('a concurrent write under the old key is retried and re-sealed', async () => {
    secrets.put('a', 'secret:a', 'old value', keyringOf(oldKey));
    secrets.beforeReplace = (id) => {
      secrets.beforeReplace = null;
      secrets.put(id, 'secret:a', 'written with the old key', keyringOf(oldKey));
    };
    await rotation().rotate({});
    expect(secrets.plain('a', keyringOf(newKey))).toBe('written with the old key');
  });

  test('a row removed under the rotation is skipped', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    secrets.put('b', 'secret:b', 'value-b', keyringOf(oldKey));
    secrets.beforeReplace = (id) => {
      if (id === 'a') secrets.rows.delete('a');
    };
    const report = await rotation().rotate({});
    expect([...secrets.rows.keys()]).toEqual(['b']);
    expect(report.resealed).toBe(1);
  });

  test('a row that keeps changing fails after a bounded number of attempts', async () => {
    secrets.put('a', 'secret:a', 'value', keyringOf(oldKey));
    secrets.beforeReplace = (id) => secrets.put(id, 'secret:a', 'value', keyringOf(oldKey));
    const error = await failure(rotation().rotate({}));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('secrets "a" kept changing');
  });

  test('values a writer with the old key adds during the walk are re-sealed by a further pass', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    let added = false;
    secrets.beforeReplace = () => {
      if (added) return;
      added = true;
      secrets.put('late', 'secret:late', 'value-late', keyringOf(oldKey));
    };
    const report = await rotation().rotate({});
    expect(report.resealed).toBe(2);
    expect(sealedKeyId(secrets.rows.get('late')!.sealed)).toBe(keyIdOf(newKey));
  });

  test('a writer that never stops sealing under the old key makes the rotation fail instead of claiming success', async () => {
    secrets.put('a', 'secret:a', 'value-a', keyringOf(oldKey));
    let n = 0;
    secrets.beforeReplace = () => {
      n += 1;
      secrets.put(`late-${n}`, `secret:late-${n}`, 'v', keyringOf(oldKey));
    };
    const error = await failure(rotation().rotate({}));
    expect(error.code).toBe('still_old');
    expect(events).toEqual([]);
  });
});
