import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { baseConfig, Workspace } from './harness.js';

/** The built bin that package.json points at; `npm test` compiles it before vitest runs. */
const bin = resolve(import.meta.dirname, '../../dist/src/cli/main.js');

function gatehouse(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    input: options.input ?? '',
    env: { PATH: process.env.PATH, ...options.env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let ws: Workspace;
beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first with npx tsc -p .`);
});
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

describe('the gatehouse bin', () => {
  it('exits 0 on --help', () => {
    const result = gatehouse(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: gatehouse/);
  });

  it('exits 2 on an unknown command', () => {
    const result = gatehouse(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('exits 2 on an invalid configuration, naming the key path', () => {
    const bad = new Workspace('routes:\n  - path: /api/**\n    upstream: nowhere\n');
    try {
      const result = gatehouse(['check', '--config', bad.configFile]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('routes[0].upstream: no upstream is named "nowhere"\n');
    } finally {
      bad.remove();
    }
  });

  it('adds a user from piped stdin and lists it, reading $GATEHOUSE_CONFIG', () => {
    const env = { GATEHOUSE_CONFIG: ws.configFile };
    expect(gatehouse(['user', 'add', 'alice', '--password-stdin'], { input: 'a password from a pipe\n', env })).toMatchObject({ code: 0, stdout: 'user alice created\n' });
    const list = gatehouse(['user', 'list', '--json'], { env });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'alice' }]);
    expect(existsSync(join(ws.dir, 'master.key'))).toBe(true);
  });

  it('exits 1 on a runtime failure', () => {
    const result = gatehouse(['user', 'lock', 'nobody', '--config', ws.configFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: no user named "nobody"\n');
  });

  it('serve answers /healthz, then drains and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const served = new Workspace(`${baseConfig}server:\n  port: ${port}\n`);
    // serve refuses to start while a credential's secret is missing.
    expect(gatehouse(['secret', 'set', 'weather-token', '--config', served.configFile], { input: 'an-upstream-token' }).code).toBe(0);
    const child = spawn(process.execPath, [bin, 'serve', '--config', served.configFile], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const health = await poll(async () => {
        if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
      });
      expect(health).toEqual({ status: 'ok' });
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      // JSON lines; on a first start the signing key's creation (SPEC §7) is logged before this one.
      expect(stdout).toMatch(/^\{.*"msg":"gatehouse listening"/m);
      expect(stdout.split('\n').filter(Boolean).every((line) => line.startsWith('{'))).toBe(true);
    } finally {
      child.kill('SIGKILL');
      served.remove();
    }
  });

  it('serve exits 2 on an invalid configuration', () => {
    const bad = new Workspace('server:\n  port: many\n');
    try {
      const result = gatehouse(['serve', '--config', bad.configFile]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^server\.port: /);
    } finally {
      bad.remove();
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Retries `attempt` every 100 ms for up to 10 s (the server needs a moment to start). */
async function poll<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
