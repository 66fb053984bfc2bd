import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { transferTables } from '../../src/storage/store-transfer.js';
import { baseConfig, Workspace } from '../cli/harness.js';
import { totpCode } from '../helpers/totp.js';

/**
 * Attack: reading secrets out of what `gatehouse store copy` prints (a CI log, a shared terminal, a
 * ticket an operator pastes the error into). Whatever the outcome — copied, refused for another
 * master key, refused for a non-empty target — stdout and stderr must hold no secret, password,
 * master key, session id, TOTP secret or recovery code, nor any stored form of them (sealed values,
 * password hashes, session id hashes, recovery code hashes).
 */
const password = 'a long enough password';
const secretValue = 'upstream-token-never-printed-0815';
let source: Workspace;
let target: Workspace;
let secrets: string[];

beforeEach(async () => {
  source = new Workspace();
  target = new Workspace(baseConfig, { masterKey: false });
  copyFileSync(join(source.dir, 'master.key'), join(target.dir, 'master.key'));
  await source.addUser('alice');
  expect((await source.run(['secret', 'set', 'weather-token'], { stdin: secretValue })).code).toBe(0);
  const issued = await source.withServices(async ({ accounts, sessions, totp, clock }) => {
    const session = await sessions.create((await accounts.get('alice'))!, { ip: '203.0.113.7', userAgent: 'test' });
    const setup = await totp.setup('alice');
    if (setup === 'already_enabled') throw new Error('unexpected');
    const confirmed = await totp.confirm('alice', totpCode(setup.secret, clock.now()));
    if (confirmed === 'invalid_code') throw new Error('unexpected');
    return { token: session.token, totpSecret: setup.secret, recoveryCodes: confirmed.recoveryCodes };
  });
  const store = openSqliteStore(join(source.dir, 'gatehouse.db'));
  const dump = await store.transfer.dump();
  await store.close();
  const stored = transferTables.flatMap((table) => dump[table.name].flatMap((row) => table.columns
    .filter((c) => c.sealed || ['password_hash', 'id_hash', 'code_hash', 'value'].includes(c.name))
    .map((c) => String(row[c.name]))));
  expect(stored.length).toBeGreaterThan(10);
  secrets = [
    password, secretValue, issued.token, issued.totpSecret, ...issued.recoveryCodes, ...stored,
    readFileSync(join(source.dir, 'master.key'), 'utf8').trim(),
  ];
});

afterEach(() => {
  source.remove();
  target.remove();
});

function expectNothingSecretIn(output: string): void {
  for (const secret of secrets) expect(output.includes(secret), 'a secret was printed').toBe(false);
}

it('a successful copy prints counts only', async () => {
  const result = await source.run(['store', 'copy', '--to', target.configFile]);
  expect(result.code).toBe(0);
  expectNothingSecretIn(result.stdout + result.stderr);
});

it('a refusal for another master key names key ids only', async () => {
  const otherKey = Buffer.alloc(32, 9).toString('base64');
  writeFileSync(join(target.dir, 'master.key'), `${otherKey}\n`);
  secrets.push(otherKey);
  const result = await source.run(['store', 'copy', '--to', target.configFile]);
  expect(result.code).toBe(1);
  expectNothingSecretIn(result.stdout + result.stderr);
});

it('a refusal for a non-empty target names kinds of rows only', async () => {
  await target.addUser('zoe');
  const result = await source.run(['store', 'copy', '--to', target.configFile]);
  expect(result.code).toBe(1);
  expectNothingSecretIn(result.stdout + result.stderr);
});
