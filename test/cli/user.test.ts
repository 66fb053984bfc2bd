import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRaw, Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => ws.remove());

const password = 'correct horse battery staple';

describe('gatehouse user add', () => {
  it('creates a user with roles and a password read from stdin', async () => {
    const result = await ws.run(['user', 'add', 'alice', '--role', 'user', '--role', 'admin', '--password-stdin'], { stdin: `${password}\n` });
    expect(result).toMatchObject({ code: 0, stdout: 'user alice created\n' });
    const user = await ws.withServices(async ({ accounts }) => accounts.get('alice'));
    expect(user).toMatchObject({ name: 'alice', roles: ['user', 'admin'], locked: false, passwordResetRequired: false });
    expect(ws.output).not.toContain(password);
  });

  it('strips one trailing newline, CRLF included, and nothing else', async () => {
    expect((await ws.run(['user', 'add', 'alice', '--password-stdin'], { stdin: 'twelve chars\r\n' })).code).toBe(0);
    // Were only "\n" stripped, the "\r" would make these 11 characters into an acceptable 12.
    expect((await ws.run(['user', 'add', 'bob', '--password-stdin'], { stdin: 'eleven char\r\n' })).code).toBe(2);
    expect((await ws.run(['user', 'add', 'carol', '--password-stdin'], { stdin: ' 12 chars   ' })).code).toBe(0);
  });

  it('on a first run creates the master key and says so on stderr', async () => {
    const first = new Workspace(undefined, { masterKey: false });
    try {
      const result = await first.run(['user', 'add', 'alice', '--password-stdin'], { stdin: password });
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/^created a new master key in .*master\.key; back it up/);
    } finally {
      first.remove();
    }
  });

  it('marks the user for a password reset with --require-reset', async () => {
    expect((await ws.run(['user', 'add', 'alice', '--password-stdin', '--require-reset'], { stdin: password })).code).toBe(0);
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toMatchObject({ passwordResetRequired: true });
  });

  it('refuses an existing name with exit 2', async () => {
    await ws.addUser('alice');
    const result = await ws.run(['user', 'add', 'alice', '--password-stdin'], { stdin: password });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: a user named "alice" already exists\n');
    expect(result.stdout).toBe('');
  });

  it.each([
    ['11 code points', 'a'.repeat(11)],
    ['1025 code points', 'a'.repeat(1025)],
    ['an empty password', ''],
  ])('refuses %s with exit 2 and creates nothing', async (_label, weak) => {
    const result = await ws.run(['user', 'add', 'alice', '--password-stdin'], { stdin: weak });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: The password must be at (least 12|most 1024) characters long\.\n$/);
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toBeNull();
  });

  it('counts code points, not UTF-16 units: 12 emoji are enough, 1024 emoji are not too many', async () => {
    const emoji = '🔐'.repeat(12);
    expect(emoji.length).toBe(24);
    expect((await ws.run(['user', 'add', 'alice', '--password-stdin'], { stdin: emoji })).code).toBe(0);
    expect((await ws.run(['user', 'add', 'bob', '--password-stdin'], { stdin: '🔐'.repeat(1024) })).code).toBe(0);
    expect((await ws.run(['user', 'add', 'carol', '--password-stdin'], { stdin: '🔐'.repeat(11) })).code).toBe(2);
  });

  it('without --password-stdin and without a terminal, says how to give the password (exit 2)', async () => {
    const result = await ws.run(['user', 'add', 'alice'], { stdin: password });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: no terminal to prompt for a password; use --password-stdin\n');
  });

  it('refuses an invalid user name with exit 2', async () => {
    const result = await ws.run(['user', 'add', 'not a name', '--password-stdin'], { stdin: password });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: /);
  });

  it('refuses a name starting with "-", which `user list` would print and later commands read as an option', async () => {
    const result = await runRaw(['user', 'add', '--config', ws.configFile, '--password-stdin', '--', '-bob'], { stdin: password });
    expect(result).toMatchObject({ code: 2, stderr: 'error: a user name must be 1 to 64 letters, digits, ".", "_", "-" or "@", not starting with "-"\n' });
    expect((await ws.run(['user', 'list', '--json'])).stdout).toBe('[]\n');
  });
});

describe('commands that revoke a user\'s sessions', () => {
  beforeEach(async () => {
    await ws.addUser('alice');
    await ws.addUser('bob');
  });

  it('passwd sets the password and revokes every session of that user only', async () => {
    await ws.createSession('alice');
    await ws.createSession('alice');
    const bobs = await ws.createSession('bob');
    const result = await ws.run(['user', 'passwd', 'alice', '--password-stdin'], { stdin: `${password}\n` });
    expect(result).toMatchObject({ code: 0, stdout: 'password of alice changed; their sessions were revoked\n' });
    expect(await ws.sessionHandles('alice')).toEqual([]);
    expect(await ws.sessionHandles()).toEqual([bobs]);
    expect(ws.output).not.toContain(password);
  });

  it('passwd refuses a weak password with exit 2 and keeps the sessions', async () => {
    const handle = await ws.createSession('alice');
    expect((await ws.run(['user', 'passwd', 'alice', '--password-stdin'], { stdin: 'short' })).code).toBe(2);
    expect(await ws.sessionHandles('alice')).toEqual([handle]);
  });

  it('require-reset flags the user and revokes their sessions', async () => {
    await ws.createSession('alice');
    const result = await ws.run(['user', 'require-reset', 'alice']);
    expect(result).toMatchObject({ code: 0, stdout: 'alice must choose a new password at next login; their sessions were revoked\n' });
    expect(await ws.sessionHandles('alice')).toEqual([]);
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toMatchObject({ passwordResetRequired: true });
  });

  it('lock revokes the sessions; unlock lifts the lock', async () => {
    await ws.createSession('alice');
    expect(await ws.run(['user', 'lock', 'alice'])).toMatchObject({ code: 0, stdout: 'user alice locked; their sessions were revoked\n' });
    expect(await ws.sessionHandles('alice')).toEqual([]);
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toMatchObject({ locked: true });
    expect(await ws.run(['user', 'unlock', 'alice'])).toMatchObject({ code: 0, stdout: 'user alice unlocked\n' });
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toMatchObject({ locked: false });
  });

  it('remove deletes the user and their sessions', async () => {
    await ws.createSession('alice');
    expect(await ws.run(['user', 'remove', 'alice'])).toMatchObject({ code: 0, stdout: 'user alice removed, with their sessions\n' });
    expect(await ws.sessionHandles('alice')).toEqual([]);
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toBeNull();
  });

  it.each([
    [['user', 'passwd', 'nobody', '--password-stdin']],
    [['user', 'require-reset', 'nobody']],
    [['user', 'lock', 'nobody']],
    [['user', 'unlock', 'nobody']],
    [['user', 'remove', 'nobody']],
  ])('%j for an unknown user fails with exit 1', async (argv) => {
    const result = await ws.run(argv, { stdin: password });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: no user named "nobody"\n');
  });
});

describe('gatehouse user list', () => {
  it('prints the SPEC JSON shape', async () => {
    await ws.addUser('alice', ['--role', 'admin']);
    await ws.run(['user', 'lock', 'alice']);
    const result = await ws.run(['user', 'list', '--json']);
    expect(result.code).toBe(0);
    const list = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(Object.keys(list[0]!).sort()).toEqual(['createdAt', 'lastLoginAt', 'locked', 'mfa', 'name', 'roles']);
    expect(list[0]).toMatchObject({ name: 'alice', roles: ['admin'], locked: true, mfa: false, lastLoginAt: null });
    expect(new Date(list[0]!.createdAt as string).toISOString()).toBe(list[0]!.createdAt);
  });

  it('prints an aligned table with a header row', async () => {
    await ws.addUser('alice', ['--role', 'admin', '--role', 'user']);
    await ws.addUser('bob');
    const lines = (await ws.run(['user', 'list'])).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +ROLES +LOCKED +MFA +CREATED +LAST LOGIN$/);
    const row = lines.find((l) => l.startsWith('alice'))!;
    expect(row).toMatch(/^alice +admin,user +no +no +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +-$/);
    expect(lines[0]!.indexOf('ROLES')).toBe(row.indexOf('admin'));
    expect(lines).toHaveLength(3);
  });

  it('prints an empty JSON array when there are no users', async () => {
    expect(JSON.parse((await ws.run(['user', 'list', '--json'])).stdout)).toEqual([]);
  });
});
