import { copyFileSync, existsSync, linkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseConfig, Workspace } from './harness.js';

/**
 * `gatehouse store copy --to FILE` between two SQLite files, in-process (SPEC §2). The engines'
 * other directions are in the contract suites (src/storage/postgres/postgres-stores.test.ts) and
 * SQLite → PostgreSQL end to end in test/integration/store-copy.test.ts.
 */
let source: Workspace;
let target: Workspace;

beforeEach(async () => {
  source = new Workspace();
  target = new Workspace(baseConfig, { masterKey: false });
  copyFileSync(join(source.dir, 'master.key'), join(target.dir, 'master.key'));
  await source.addUser('alice', ['--role', 'admin']);
  await source.addUser('bob');
  expect((await source.run(['user', 'lock', 'bob'])).code).toBe(0);
  expect((await source.run(['secret', 'set', 'weather-token'], { stdin: 'the-upstream-token-value' })).code).toBe(0);
  await source.createSession('alice');
});

afterEach(() => {
  source.remove();
  target.remove();
});

const targetDb = (): string => join(target.dir, 'gatehouse.db');
const copy = (to = target.configFile) => source.run(['store', 'copy', '--to', to]);

describe('gatehouse store copy', () => {
  it('copies into a new store and prints one line of counts, nothing secret', async () => {
    const result = await copy();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`copied 2 users, 0 TOTP enrolments, 0 recovery codes, 0 passkeys, 1 secret, 0 signing keys, 1 session, 0 blocks, 4 audit events into the store of ${target.configFile}\n`);
    const users = JSON.parse((await target.run(['user', 'list', '--json'])).stdout) as { name: string; roles: string[]; locked: boolean }[];
    expect(users.map(({ name, roles, locked }) => ({ name, roles, locked }))).toEqual([
      { name: 'alice', roles: ['admin'], locked: false },
      { name: 'bob', roles: [], locked: true },
    ]);
    expect((await target.run(['session', 'list', '--json'])).stdout).toBe((await source.run(['session', 'list', '--json'])).stdout);
    expect((await target.run(['audit', '--json'])).stdout).toBe((await source.run(['audit', '--json'])).stdout);
    // The secret still opens under the shared master key on the target.
    expect(await target.withServices((s) => s.secrets.reveal('weather-token'))).toBe('the-upstream-token-value');
    expect(source.output + target.output).not.toContain('the-upstream-token-value');
    expect(result.stdout).not.toMatch(/argon2|v1\./);
  });

  it('without --to: exit 2, nothing created', async () => {
    const result = await source.run(['store', 'copy']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--to/);
    expect(existsSync(targetDb())).toBe(false);
  });

  it('a --to file that does not exist, or is not a valid configuration: exit 2, one sentence naming it', async () => {
    const missing = join(target.dir, 'nowhere.yaml');
    const absent = await copy(missing);
    expect(absent.code).toBe(2);
    expect(absent.stderr).toBe(`--to: configuration file ${missing} does not exist\n`);

    writeFileSync(target.configFile, `${baseConfig}\nsession: { idleTimeout: soon }\n`);
    const invalid = await copy();
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^--to: session\.idleTimeout: /);
    expect(existsSync(targetDb())).toBe(false);
  });

  it('onto its own store (the same file by another path, or a hard link): exit 2, and the store is as it was', async () => {
    const before = (await source.run(['user', 'list', '--json'])).stdout;
    writeFileSync(target.configFile, baseConfig.replace('./gatehouse.db', `${source.dir}/./gatehouse.db`).replace('./master.key', `${source.dir}/master.key`));
    const result = await copy();
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: --to configures the same store as this configuration; a store cannot be copied onto itself\n');
    expect((await source.run(['store', 'copy', '--to', source.configFile])).code).toBe(2);
    linkSync(join(source.dir, 'gatehouse.db'), join(target.dir, 'linked.db'));
    writeFileSync(target.configFile, baseConfig.replace('./gatehouse.db', './linked.db'));
    const linked = await copy();
    expect(linked.stderr).toMatch(/a store cannot be copied onto itself/);
    expect(linked.code).toBe(2);
    expect((await source.run(['user', 'list', '--json'])).stdout).toBe(before);
  });

  it('a target with another master key: exit 1, one sentence naming key ids, nothing written (not even the file)', async () => {
    const otherKey = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(join(target.dir, 'master.key'), `${otherKey}\n`);
    const result = await copy();
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toHaveLength(2);
    expect(result.stderr).toMatch(/^error: .*masterKey is not the one this store was created with \(key id [0-9a-f]{16}; configured: [0-9a-f]{16}\); both must use the same master key; nothing was written\n$/);
    expect(result.stderr).not.toContain(otherKey);
    expect(result.stderr).not.toContain(readFileSync(join(source.dir, 'master.key'), 'utf8').trim());
    expect(existsSync(targetDb())).toBe(false);
  });

  it('a target that is not empty: exit 1, one sentence, the target as it was', async () => {
    await target.addUser('zoe');
    const before = (await target.run(['user', 'list', '--json'])).stdout;
    const auditBefore = (await target.run(['audit', '--json'])).stdout;
    const result = await copy();
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: the store of ${target.configFile} is not empty (it holds users, audit events); store copy only fills an empty store, so nothing was written\n`);
    expect((await target.run(['user', 'list', '--json'])).stdout).toBe(before);
    expect((await target.run(['audit', '--json'])).stdout).toBe(auditBefore);
    expect((await target.run(['secret', 'list', '--json'])).stdout).toBe('[]\n');
  });

  it('a target opened once before (only its master-key check value) counts as empty', async () => {
    expect((await target.run(['user', 'list'])).code).toBe(0);
    expect((await copy()).code).toBe(0);
    expect(await target.withServices((s) => s.secrets.reveal('weather-token'))).toBe('the-upstream-token-value');
  });
});
