/**
 * A throwaway redis-server for a bench script: 127.0.0.1, a free port, no persistence, its own temp
 * folder; killed and removed when the process exits. The whole run is bounded by `budgetMs`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/servers/free-port.mjs';

/** Starts redis-server and returns its `redis://` URL (answering once a client connects). */
export async function startBenchRedis(name, budgetMs = 300_000) {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-bench-${name}-`));
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  process.on('exit', () => {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  setTimeout(() => {
    console.error(`bench: exceeded its ${budgetMs / 1000} s budget; stopping`);
    process.exit(1);
  }, budgetMs).unref();
  return { url: `redis://127.0.0.1:${port}/0`, port };
}
