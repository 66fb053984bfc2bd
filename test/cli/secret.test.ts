import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

const value = 'sk-live-4f7a9c2e1b8d6053';

describe('gatehouse secret', () => {
  it('set stores the value encrypted and prints no value', async () => {
    const result = await ws.run(['secret', 'set', 'weather-token'], { stdin: `${value}\n` });
    expect(result).toEqual({ code: 0, stdout: 'secret weather-token stored\n', stderr: '' });
    expect(await ws.withServices(async ({ secrets }) => secrets.reveal('weather-token'))).toBe(value);
    // Encrypted at rest: the database file never holds the plain value.
    expect(readFileSync(join(ws.dir, 'gatehouse.db')).includes(Buffer.from(value))).toBe(false);
  });

  it('set on a first run creates the master key and says so on stderr', async () => {
    const first = new Workspace(undefined, { masterKey: false });
    try {
      const result = await first.run(['secret', 'set', 'weather-token'], { stdin: value });
      expect(result.code).toBe(0);
      expect(result.stderr).toBe(`created a new master key in ${join(first.dir, 'master.key')}; back it up, because stored secrets cannot be decrypted without it\n`);
      expect(await first.withServices(async ({ secrets }) => secrets.reveal('weather-token'))).toBe(value);
    } finally {
      first.remove();
    }
  });

  it('set refuses an invalid name with exit 2, without echoing it', async () => {
    const result = await ws.run(['secret', 'set', 'sk-live 4f7a'], { stdin: value });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: a secret name must be/);
    expect(result.stderr).not.toContain('4f7a');
  });

  it('set replaces an existing value', async () => {
    await ws.run(['secret', 'set', 'weather-token'], { stdin: 'first value 123' });
    expect((await ws.run(['secret', 'set', 'weather-token'], { stdin: value })).code).toBe(0);
    expect(await ws.withServices(async ({ secrets }) => secrets.reveal('weather-token'))).toBe(value);
  });

  it('set refuses an empty value with exit 2', async () => {
    const result = await ws.run(['secret', 'set', 'weather-token'], { stdin: '\n' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: the secret value is empty/);
  });

  it('set refuses a value shorter than 8 bytes with exit 2, saying why', async () => {
    const result = await ws.run(['secret', 'set', 'weather-token'], { stdin: '1234567\n' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('shorter than 8 bytes');
    expect(result.stderr).toContain('leak guard');
    expect(result.stderr).not.toContain('1234567');
    // Bytes, not characters: four 2-byte characters are enough.
    expect((await ws.run(['secret', 'set', 'weather-token'], { stdin: 'éééé' })).code).toBe(0);
  });

  it('list prints names and update times only (JSON shape and table)', async () => {
    await ws.run(['secret', 'set', 'weather-token'], { stdin: value });
    await ws.run(['secret', 'set', 'other-token'], { stdin: `${value}-2` });
    const json = await ws.run(['secret', 'list', '--json']);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as { name: string; updatedAt: string }[];
    expect(list.map((s) => Object.keys(s).sort())).toEqual([['name', 'updatedAt'], ['name', 'updatedAt']]);
    expect(list.map((s) => s.name).sort()).toEqual(['other-token', 'weather-token']);
    expect(new Date(list[0]!.updatedAt).toISOString()).toBe(list[0]!.updatedAt);

    const table = (await ws.run(['secret', 'list'])).stdout.trimEnd().split('\n');
    expect(table[0]).toMatch(/^NAME +UPDATED$/);
    expect(table.slice(1).map((l) => l.split(/ +/)[0]).sort()).toEqual(['other-token', 'weather-token']);
  });

  it('remove deletes a secret; removing an absent one fails with exit 1', async () => {
    await ws.run(['secret', 'set', 'weather-token'], { stdin: value });
    expect(await ws.run(['secret', 'remove', 'weather-token'])).toMatchObject({ code: 0, stdout: 'secret weather-token removed\n' });
    expect(await ws.withServices(async ({ secrets }) => secrets.list())).toEqual([]);
    expect(await ws.run(['secret', 'remove', 'weather-token'])).toMatchObject({ code: 1, stderr: 'error: no secret with that name is stored\n' });
  });

  it('never prints the value, whatever the command', async () => {
    await ws.run(['secret', 'set', 'weather-token'], { stdin: value });
    await ws.run(['secret', 'set', 'weather-token'], { stdin: value });
    await ws.run(['secret', 'list']);
    await ws.run(['secret', 'list', '--json']);
    await ws.run(['audit']);
    await ws.run(['audit', '--json']);
    await ws.run(['check']);
    await ws.run(['secret', 'remove', 'weather-token']);
    expect(ws.output).toContain('weather-token');
    expect(ws.output).not.toContain(value);
    expect(ws.output).not.toContain(value.slice(0, 12));
  });
});
