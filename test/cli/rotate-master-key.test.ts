import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/secrets/keyring.js';
import { totpCode } from '../helpers/totp.js';
import { baseConfig, Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

const token = 'sk-live-4f7a9c2e1b8d6053';

/** The configuration with another masterKey line (baseConfig's is `file:./master.key`). */
function useMasterKey(line: string): void {
  writeFileSync(ws.configFile, baseConfig.replace('masterKey: file:./master.key', `masterKey: ${line}`));
}

function keyId(file: string): string {
  return keyIdOf(Buffer.from(readFileSync(join(ws.dir, file), 'utf8').trim(), 'base64'));
}

/** A secret, a confirmed TOTP enrolment and a signing key, all sealed under master.key. Returns the TOTP secret. */
async function arrange(): Promise<string> {
  expect((await ws.run(['secret', 'set', 'weather-token'], { stdin: token })).code).toBe(0);
  await ws.addUser('alice');
  return ws.withServices(async ({ totp, signingKeys, clock }) => {
    const setup = await totp.setup('alice');
    if (setup === 'already_enabled') throw new Error('unexpected');
    expect(await totp.confirm('alice', totpCode(setup.secret, clock.now()))).not.toBe('invalid_code');
    await signingKeys.init();
    return setup.secret;
  });
}

describe('gatehouse secret rotate-master-key', () => {
  it('re-encrypts every secret, TOTP secret, signing key and the check value under the first key; the old key can then go', async () => {
    const totpSecret = await arrange();
    const kid = await ws.withServices(async ({ signingKeys }) => {
      await signingKeys.init();
      return signingKeys.active.kid;
    });
    writeFileSync(join(ws.dir, 'new.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    useMasterKey('[file:./new.key, file:./master.key]');

    const result = await ws.run(['secret', 'rotate-master-key']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe([
      `re-encrypted 4 values under master key ${keyId('new.key')} (secrets 1, signing keys 1, TOTP secrets 1, OIDC session tokens 0, master-key check 1); 0 were already under it`,
      'every stored value now opens with the first key alone: the other keys can be removed from masterKey',
      '',
    ].join('\n'));
    expect(result.stdout).not.toContain(token);

    const [event] = JSON.parse((await ws.run(['audit', '--limit', '1', '--json'])).stdout) as { type: string; detail: Record<string, unknown> }[];
    expect(event).toMatchObject({ type: 'master_key_rotated', detail: { keyId: keyId('new.key'), resealed: 4, alreadyCurrent: 0, by: 'cli' } });

    // The old key removed: everything still opens.
    useMasterKey('file:./new.key');
    await ws.withServices(async ({ secrets, totp, signingKeys, clock }) => {
      expect(await secrets.reveal('weather-token')).toBe(token);
      expect(await totp.verify('alice', totpCode(totpSecret, clock.now(), 1))).toBe(true);
      await signingKeys.init();
      expect(signingKeys.active.kid).toBe(kid);
    });
    expect((await ws.run(['secret', 'list'])).code).toBe(0);

    // And the old key alone no longer opens the store: the values really moved.
    useMasterKey('file:./master.key');
    const refused = await ws.run(['secret', 'list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: masterKey does not match the key this store was created with/);
  });

  it('refuses with exit 2 when masterKey lists a single key', async () => {
    await arrange();
    const result = await ws.run(['secret', 'rotate-master-key']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: masterKey lists one key (key id ${keyId('master.key')}); put a new key first and the current one after it, like [file:new.key, file:old.key], then run this again\n`);
  });

  it('refuses with exit 1 when there is nothing to do: run twice, or the new key listed second', async () => {
    await arrange();
    writeFileSync(join(ws.dir, 'new.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

    useMasterKey('[file:./master.key, file:./new.key]');
    const wrongOrder = await ws.run(['secret', 'rotate-master-key']);
    expect(wrongOrder.code).toBe(1);
    expect(wrongOrder.stderr).toBe(`error: nothing to re-encrypt: all 4 sealed values are already under the first master key (key id ${keyId('master.key')}); to rotate, put the NEW key first in masterKey\n`);

    useMasterKey('[file:./new.key, file:./master.key]');
    expect((await ws.run(['secret', 'rotate-master-key'])).code).toBe(0);
    const again = await ws.run(['secret', 'rotate-master-key']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('nothing to re-encrypt: all 4 sealed values are already under the first master key');
  });

  it('fails with exit 1, writing nothing, when a value is under a key that is not listed', async () => {
    await arrange();
    // A secret sealed under a third key (as if written by a process configured with another key).
    writeFileSync(join(ws.dir, 'third.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    useMasterKey('[file:./third.key, file:./master.key]');
    expect((await ws.run(['secret', 'set', 'stray-token'], { stdin: token })).code).toBe(0);
    writeFileSync(join(ws.dir, 'new.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    useMasterKey('[file:./new.key, file:./master.key]');
    const before = await ws.withServices(async ({ store }) => store.secrets.list());

    const result = await ws.run(['secret', 'rotate-master-key']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: secrets "stray-token" is sealed under key id ${keyId('third.key')}, which masterKey does not list; add that key after the first one\n`);
    expect(await ws.withServices(async ({ store }) => store.secrets.list())).toEqual(before);
  });

  it('is listed in the help of gatehouse secret', async () => {
    const help = await ws.run(['secret', '--help']);
    expect(help.stdout).toMatch(/rotate-master-key +re-encrypt every stored value under the first masterKey/);
  });
});
