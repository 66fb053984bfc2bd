import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresMigrations } from '../../src/storage/postgres/migrations.js';
import { usePostgres } from '../helpers/postgres.js';
import { baseConfig, Workspace } from './harness.js';

/** The built bin that package.json points at; `npm test` compiles it before vitest runs. */
const bin = resolve(import.meta.dirname, '../../dist/src/cli/main.js');
const latest = postgresMigrations.length;
const allListed = postgresMigrations.map((m) => `  ${m.version}  ${m.description}`);
const postgres = usePostgres();

let ws: Workspace | undefined;
afterEach(() => ws?.remove());

/** A workspace whose store is a fresh PostgreSQL database, named by env:DATABASE_URL (never in the file). */
async function postgresWorkspace(): Promise<{ ws: Workspace; env: NodeJS.ProcessEnv; url: string }> {
  const url = await postgres.server.createDatabase();
  const store = 'store:\n  postgres: env:DATABASE_URL\n  timeout: 5s\ncache:\n  redis: redis://127.0.0.1:1/0\n';
  ws = new Workspace(baseConfig.replace('store:\n  sqlite: ./gatehouse.db\n', store));
  return { ws, env: { DATABASE_URL: url }, url };
}

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

async function version(url: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const found = await client.query<{ version: number }>("SELECT version FROM gatehouse_schema WHERE to_regclass('gatehouse_schema') IS NOT NULL").catch(() => null);
    return found?.rows[0]?.version ?? null;
  } finally {
    await client.end();
  }
}

describe('gatehouse migrate on PostgreSQL (SPEC §2, §8)', () => {
  it('--check on a database Gatehouse never touched lists every migration as pending, exit 1, and creates nothing', async () => {
    const { ws, env, url } = await postgresWorkspace();
    const result = await ws.run(['migrate', '--check'], { env });
    expect(result).toMatchObject({ code: 1, stderr: '' });
    expect(result.stdout).toBe([`the store has no schema yet; ${latest} schema migrations are pending:`, ...allListed, ''].join('\n'));
    expect(await version(url)).toBeNull();
  });

  it('applies them once, then reports the store up to date; --check agrees (exit 0)', async () => {
    const { ws, env, url } = await postgresWorkspace();
    const applied = await ws.run(['migrate'], { env });
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toBe([`applied ${latest} schema migrations:`, ...allListed, `the store is at schema version ${latest}`, ''].join('\n'));
    expect(await version(url)).toBe(latest);
    expect(await ws.run(['migrate'], { env })).toMatchObject({ code: 0, stdout: `the store is up to date (schema version ${latest})\n` });
    expect(await ws.run(['migrate', '--check'], { env })).toMatchObject({ code: 0, stdout: `the store is up to date (schema version ${latest})\n` });
  });

  it('four `gatehouse migrate` processes at once on an empty database apply each migration once, none failing', async () => {
    const { ws, env, url } = await postgresWorkspace();
    const runs = await Promise.all(Array.from({ length: 4 }, () => gatehouse(['migrate', '--config', ws.configFile], env)));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const appliedCounts = runs.map((r) => (r.stdout.match(/^ {2}\d+ {2}/gm) ?? []).length);
    expect(appliedCounts.reduce((a, b) => a + b, 0)).toBe(latest);
    expect(await version(url)).toBe(latest);
  });

  it('a database at a newer schema is refused, with and without --check: exit 1, one sentence naming both versions', async () => {
    const { ws, env, url } = await postgresWorkspace();
    expect((await ws.run(['migrate'], { env })).code).toBe(0);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('UPDATE gatehouse_schema SET version = 99');
    await client.end();
    const sentence = `error: the store is at schema version 99, newer than this Gatehouse knows (${latest}); upgrade Gatehouse\n`;
    expect(await ws.run(['migrate'], { env })).toMatchObject({ code: 1, stdout: '', stderr: sentence });
    expect(await ws.run(['migrate', '--check'], { env })).toMatchObject({ code: 1, stdout: '', stderr: sentence });
  });

  it('an unreachable server fails with exit 1 and a sentence that holds no part of the URL\'s password', async () => {
    const { ws } = await postgresWorkspace();
    const env = { DATABASE_URL: 'postgres://gatehouse:s3cret-pass@127.0.0.1:1/nowhere' };
    const result = await ws.run(['migrate'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .+\n$/);
    expect(result.stderr).not.toContain('s3cret-pass');
  });
});
