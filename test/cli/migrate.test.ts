import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate, migrations } from '../../src/storage/sqlite/migrations.js';
import { openDatabase } from '../../src/storage/sqlite/open-database.js';
import { baseConfig, Workspace } from './harness.js';

/** The built bin that package.json points at; `npm test` compiles it before vitest runs. */
const bin = resolve(import.meta.dirname, '../../dist/src/cli/main.js');
const latest = migrations.length;
const allListed = migrations.map((m) => `  ${m.version}  ${m.description}`);

function gatehouse(args: string[], input = ''): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { input, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function gatehouseAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

function setVersion(file: string, version: number): void {
  const db = new Database(file);
  try {
    db.pragma(`user_version = ${version}`);
  } finally {
    db.close();
  }
}

/** A store as the previous release left it: every migration but the last applied. */
function previousRelease(file: string): void {
  const db = openDatabase(file);
  try {
    migrate(db, migrations.slice(0, -1));
  } finally {
    db.close();
  }
}

function versionOf(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

let ws: Workspace;
let dbFile: string;
beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first with npx tsc -p .`);
});
beforeEach(() => {
  ws = new Workspace(baseConfig.replace('sqlite: ./gatehouse.db', 'sqlite: ./data/gatehouse.db'));
  dbFile = join(ws.dir, 'data', 'gatehouse.db');
});
afterEach(() => {
  ws.remove();
});

describe('gatehouse migrate', () => {
  it('creates a missing store and applies every migration, listing each; then the store is up to date', async () => {
    const first = await ws.run(['migrate']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe([`applied ${latest} schema migrations:`, ...allListed, `the store is at schema version ${latest}`, ''].join('\n'));
    expect(versionOf(dbFile)).toBe(latest);
    expect(await ws.run(['migrate'])).toEqual({ code: 0, stdout: `the store is up to date (schema version ${latest})\n`, stderr: '' });
  });

  it('applies only what is pending', async () => {
    previousRelease(dbFile);
    const result = await ws.run(['migrate']);
    expect(result.stdout).toBe(['applied 1 schema migration:', allListed[latest - 1], `the store is at schema version ${latest}`, ''].join('\n'));
  });

  it('needs no master key: it touches only the schema', async () => {
    const keyless = new Workspace(baseConfig, { masterKey: false });
    try {
      expect((await keyless.run(['migrate'])).code).toBe(0);
      expect(existsSync(join(keyless.dir, 'master.key'))).toBe(false);
    } finally {
      keyless.remove();
    }
  });
});

describe('gatehouse migrate --check', () => {
  it('a store not yet created has every migration pending: exit 1, and nothing is created, not even its folder', async () => {
    const result = await ws.run(['migrate', '--check']);
    expect(result).toMatchObject({ code: 1, stderr: '' });
    expect(result.stdout).toBe([`the store has no schema yet; ${latest} schema migrations are pending:`, ...allListed, ''].join('\n'));
    expect(existsSync(join(ws.dir, 'data'))).toBe(false);
    expect(readdirSync(ws.dir).sort()).toEqual(['gatehouse.yaml', 'master.key']);
  });

  it('exit 1 listing what is pending, changing nothing; exit 0 once up to date', async () => {
    previousRelease(dbFile);
    const pending = await ws.run(['migrate', '--check']);
    expect(pending).toMatchObject({ code: 1, stderr: '' });
    expect(pending.stdout).toBe([`the store is at schema version ${latest - 1}; 1 schema migration is pending:`, allListed[latest - 1], ''].join('\n'));
    expect(versionOf(dbFile)).toBe(latest - 1);
    await ws.run(['migrate']);
    expect(await ws.run(['migrate', '--check'])).toEqual({ code: 0, stdout: `the store is up to date (schema version ${latest})\n`, stderr: '' });
  });
});

describe('a store newer than this Gatehouse (the real bin)', () => {
  const sentence = (v: number): string => `error: the store is at schema version ${v}, newer than this Gatehouse knows (${latest}); upgrade Gatehouse\n`;

  it('is refused by serve and every command that opens the store: exit 1, one sentence naming both versions, nothing changed', async () => {
    await ws.addUser('alice');
    setVersion(dbFile, latest + 3);
    const workers = new Workspace(`${baseConfig.replace('sqlite: ./gatehouse.db', `sqlite: ${dbFile}`)}server:\n  workers: 2\n`);
    try {
      const commands = [
        ['serve'], ['migrate'], ['migrate', '--check'], ['check'], ['block', 'list'], ['block', 'remove', 'r', 'k'],
        ['user', 'list'], ['user', 'lock', 'alice'], ['session', 'list'], ['secret', 'list'], ['audit'], ['keys', 'rotate'],
      ];
      for (const args of commands) {
        const result = gatehouse([...args, '--config', ws.configFile]);
        expect({ args, ...result }).toEqual({ args, code: 1, stdout: '', stderr: sentence(latest + 3) });
      }
      expect(gatehouse(['user', 'add', 'bob', '--password-stdin', '--config', ws.configFile], 'a long enough password\n')).toMatchObject({ code: 1, stderr: sentence(latest + 3) });
      // With workers, the primary opens the store first, and refuses the same way.
      expect(gatehouse(['serve', '--config', workers.configFile])).toMatchObject({ code: 1, stderr: sentence(latest + 3) });
    } finally {
      workers.remove();
    }
    expect(versionOf(dbFile)).toBe(latest + 3);
  });
});

describe('several gatehouse migrate at once (the real bin)', () => {
  it('on a fresh file: all succeed, and each migration is applied once, by one of them', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => gatehouseAsync(['migrate', '--config', ws.configFile])));
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    const applied = results.flatMap((r) => r.stdout.split('\n').filter((line) => /^ {2}\d+ {2}/.test(line)));
    expect(applied.sort()).toEqual([...allListed].sort());
    expect(results.filter((r) => r.stdout === `the store is up to date (schema version ${latest})\n`)).toHaveLength(3);
    expect(versionOf(dbFile)).toBe(latest);
  });
});
