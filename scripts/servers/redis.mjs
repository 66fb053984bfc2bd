import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirements } from '../test-programs.mjs';
import { freePort } from './free-port.mjs';
import { startWatchdog } from './watchdog.mjs';

/**
 * A throwaway redis-server (SPEC §1; the tests' and the cluster example's): 127.0.0.1 and a free port
 * only (`--port 0` would turn TCP off), no persistence, its working folder a fresh temporary one.
 * What it returns is described in redis.d.mts.
 */

const redisServer = requirements.find((r) => r.command === 'redis-server')?.path ?? '/usr/bin/redis-server';

/** Throws (never skips) when redis-server is missing: a Redis test must not pass silently. */
export function assertRedisInstalled(file = redisServer) {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`Redis is not installed (${file} is missing): npm test installs it (scripts/test-programs.mjs), or run "apt-get install -y redis-server".`);
  }
}

/**
 * One command in RESP over its own connection, for the helper's own checks (readiness, CLIENT KILL):
 * only simple replies (+, -, :) are read, which is all those commands answer.
 */
export function redisCommand(port, args, timeoutMs = 1_000) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const fail = (error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`redis on port ${port} did not answer ${args[0]} within ${timeoutMs} ms`)));
    socket.on('error', fail);
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const end = reply.indexOf('\r\n');
      if (end === -1) return;
      socket.destroy();
      resolve(reply.slice(0, end));
    });
  });
}

export async function startRedis() {
  assertRedisInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  const pidFile = join(dir, 'redis.pid');
  let child;
  let output = '';
  let port = 0;

  const spawnOn = async (chosen) => {
    const server = spawn(redisServer, [
      '--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--daemonize', 'no', '--logfile', '', '--pidfile', pidFile,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = server;
    server.stdout?.on('data', (c) => { output += c.toString(); });
    server.stderr?.on('data', (c) => { output += c.toString(); });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (server.exitCode !== null || server.signalCode !== null) return false;
      try {
        if ((await redisCommand(chosen, ['PING'], 500)) === '+PONG') return true;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    server.kill('SIGKILL');
    throw new Error(`redis-server did not answer PING within 10 s: ${output}`);
  };

  const stop = async () => {
    const server = child;
    child = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGCONT'); // a frozen server would never act on SIGTERM
    server.kill('SIGTERM');
    const exited = once(server, 'exit');
    const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  // A test file that died before afterAll must not leave a server behind.
  const watchdog = startWatchdog({ pidFile, remove: dir });

  let started = false;
  for (let attempt = 0; attempt < 5 && !started; attempt += 1) {
    port = await freePort();
    started = await spawnOn(port);
    // Exited at once: most likely another process took the port between freePort and bind; try another.
    if (!started && !/Address already in use/i.test(output)) break;
  }
  if (!started) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    watchdog.stop();
    throw new Error(`redis-server did not start: ${output}`);
  }

  const start = async () => {
    if (child) return;
    if (!(await spawnOn(port))) throw new Error(`redis-server did not start again on port ${port}: ${output}`);
  };

  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    freeze: () => {
      child?.kill('SIGSTOP');
    },
    thaw: () => {
      child?.kill('SIGCONT');
    },
    killSubscribers: async () => {
      const reply = await redisCommand(port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      if (!reply.startsWith(':')) throw new Error(`CLIENT KILL answered ${reply}`);
      return Number(reply.slice(1));
    },
    command: (...args) => redisCommand(port, args),
    output: () => output,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      watchdog.stop();
    },
  };
}
