import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRaw, Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

const listUsers = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = await runRaw(argv, { env });
  return { code: result.code, names: result.code === 0 ? (JSON.parse(result.stdout) as { name: string }[]).map((u) => u.name) : result.stderr };
};

describe('--config', () => {
  beforeEach(async () => {
    await ws.addUser('alice');
  });

  it('is accepted before the subcommand', async () => {
    expect(await listUsers(['--config', ws.configFile, 'user', 'list', '--json'])).toEqual({ code: 0, names: ['alice'] });
  });

  it('is accepted between the command and its subcommand, and after everything', async () => {
    expect(await listUsers(['user', '--config', ws.configFile, 'list', '--json'])).toEqual({ code: 0, names: ['alice'] });
    expect(await listUsers(['user', 'list', '--json', `--config=${ws.configFile}`])).toEqual({ code: 0, names: ['alice'] });
  });

  it('defaults to $GATEHOUSE_CONFIG', async () => {
    expect(await listUsers(['user', 'list', '--json'], { GATEHOUSE_CONFIG: ws.configFile })).toEqual({ code: 0, names: ['alice'] });
  });

  it('wins over $GATEHOUSE_CONFIG', async () => {
    const result = await runRaw(['user', 'list', '--config', ws.configFile], { env: { GATEHOUSE_CONFIG: join(ws.dir, 'missing.yaml') } });
    expect(result.code).toBe(0);
  });

  it('defaults to ./gatehouse.yaml when neither is given', async () => {
    const result = await runRaw(['check'], { env: {} });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`configuration file ${join(process.cwd(), 'gatehouse.yaml')} does not exist\n`);
  });
});

describe('exit codes', () => {
  it('--help is 0 and prints to stdout', async () => {
    const result = await runRaw(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: gatehouse/);
    expect(result.stdout).toMatch(/--config <file>/);
    for (const command of ['serve', 'check', 'user', 'secret', 'session', 'audit']) expect(result.stdout).toContain(command);
  });

  it('a subcommand\'s --help lists its options and --config', async () => {
    const result = await runRaw(['user', 'add', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--password-stdin/);
    expect(result.stdout).toMatch(/--config <file>/);
  });

  it('serve --help is 0', async () => {
    const result = await runRaw(['serve', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/SIGTERM/);
  });

  it.each([
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown subcommand', ['user', 'frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown option', ['user', 'list', '--yaml'], /unknown option '--yaml'/],
    ['a missing argument', ['user', 'lock'], /missing required argument 'name'/],
    ['an extra argument', ['user', 'lock', 'alice', 'bob'], /too many arguments/],
    ['no command at all', [], /Usage: gatehouse/],
    ['a group without its subcommand', ['user'], /Usage: gatehouse user/],
  ])('%s is 2', async (_label, argv, message) => {
    const result = await ws.run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('an invalid configuration is 2 and names the key path', async () => {
    const bad = new Workspace('session:\n  idleTimeout: 30 minutes\n');
    try {
      const result = await bad.run(['user', 'list']);
      expect(result).toEqual({ code: 2, stdout: '', stderr: 'session.idleTimeout: expected a duration like "30m"\n' });
    } finally {
      bad.remove();
    }
  });

  it('a master key that cannot be read is 1, with one sentence and no stack trace', async () => {
    const first = new Workspace(undefined, { masterKey: false });
    const result = await first.run(['user', 'list']);
    first.remove();
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toBe(`error: masterKey file ${join(first.dir, 'master.key')} does not exist\n`);
  });

  it('an unexpected failure is 1 with a generic sentence', async () => {
    await ws.addUser('alice');
    // A store that is not a database: the open fails deep inside better-sqlite3.
    const broken = new Workspace(`store:\n  sqlite: ${ws.configFile}\nmasterKey: file:${join(ws.dir, 'master.key')}\n`);
    try {
      const result = await broken.run(['user', 'list']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: the command failed unexpectedly/);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    } finally {
      broken.remove();
    }
  });
});
