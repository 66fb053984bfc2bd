import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { freePort } from '../../scripts/servers/free-port.mjs';

export { freePort };

/** The built bin that package.json points at; `npm test` compiles it before vitest runs. */
export const bin = resolve(import.meta.dirname, '../../dist/src/cli/main.js');

/** Runs a CLI command in its own process, as a user would. */
export function gatehouse(args: string[], options: { input?: string } = {}): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { input: options.input ?? '', env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Retries `attempt` every 100 ms for up to 10 s. */
export async function poll<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 100) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** SIGTERM and the exit code. */
  stop(): Promise<number | null>;
}

/** `gatehouse serve` in its own process; resolves once /healthz answers. */
export async function startServe(configFile: string, port: number): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', configFile], { env: { PATH: process.env.PATH } });
  let output = '';
  child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
  await poll(async () => {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${output}`);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    if (res.status !== 200) throw new Error('not yet');
  });
  return {
    child,
    output: () => output,
    stop: async () => {
      // Already ended (by a test's SIGKILL too, which leaves exitCode null): no exit event will come.
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

/**
 * Through the built CLI, before `serve` starts: the upstream secret `api-token` that the tests'
 * configurations name, and each user with `password` (and its roles).
 */
export function seedForServe(configFile: string, users: readonly { name: string; roles?: readonly string[] }[], password: string): void {
  const runs = [
    gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' }),
    ...users.map((u) => gatehouse(['user', 'add', u.name, ...(u.roles ?? []).flatMap((r) => ['--role', r]), '--password-stdin', '--config', configFile], { input: `${password}\n` })),
  ];
  const failed = runs.find((r) => r.code !== 0);
  if (failed) throw new Error(`seeding the store failed: ${failed.stderr}`);
}
