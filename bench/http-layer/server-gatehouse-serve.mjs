/**
 * Gatehouse started the way an operator starts it: the compiled CLI (`dist/src/cli/main.js`, or
 * GATEHOUSE_DIST's) with a configuration file, `gatehouse secret set`, `gatehouse user add`, then
 * `gatehouse serve`, for the workers benchmark (bench/scale.mjs, issue 6 item 4). BENCH_WORKERS
 * (1 by default; a number or `auto`) becomes `server.workers`: with more than one, serve's primary
 * forks that many cluster workers sharing the port and the SQLite file. BENCH_LIMITS as in
 * server-gatehouse.mjs. The config, SQLite and master key live in a temp dir; the session comes
 * from the real /auth/login.
 * The JSON-lines log (access log included) goes to /dev/null, as server-gatehouse.mjs's does;
 * serve's stderr is kept to explain a failed start. This process only supervises: it answers `cpu`
 * with the CPU time and RSS of serve and its workers summed (read from /proc; its own are left
 * out), `processes` with each one's, and reports their pids in `ready.pids` so a watchdog can kill
 * them.
 * BENCH_STORE=postgres (bench/cluster.mjs, issue 11 item 8): the same node on a throwaway PostgreSQL
 * and redis-server of its own (scripts/servers/, the tests' launchers) instead of SQLite; their
 * CPU time is not in `cpu`, which stays the node's. `engine-counts` answers PostgreSQL's committed
 * and rolled-back transactions in the node's database and Redis's commands processed so far, so the
 * parent can tell the store traffic per request (decision 0006).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchSecret, cookieName, serveAsChild } from '../lib/child.mjs';
import { childPids, cpuWith, freePort, killPid, processStats } from '../lib/processes.mjs';
import { startPostgres } from '../../scripts/servers/postgres.mjs';
import { startRedis } from '../../scripts/servers/redis.mjs';

const cli = join(resolve(process.env.GATEHOUSE_DIST ?? 'dist'), 'src/cli/main.js');
const workersSetting = process.env.BENCH_WORKERS ?? '1';
const workers = workersSetting === 'auto' ? 'auto' : Number(workersSetting);
const password = 'bench correct horse battery staple';
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-serve-'));
const configFile = join(dir, 'gatehouse.yaml');
const port = await freePort();
let serve = null;
let serveExited = false;
let stderr = '';
/** PostgreSQL and Redis with BENCH_STORE=postgres, closed after serve. */
const engines = [];
let databaseUrl = null;
/** serve and the workers it forked: what `cpu` sums and a watchdog kills. */
const pids = () => (serve ? [serve.pid, ...childPids(serve.pid)] : []);

try {
  // YAML is a superset of JSON: the file is written as JSON, and loaded through the real loader.
  // wrk reaches serve by address, so that address is publicOrigin (as in server-gatehouse.mjs).
  writeFileSync(configFile, `${JSON.stringify({
    server: { host: '127.0.0.1', port, publicOrigin: `http://127.0.0.1:${port}`, workers },
    ...(await storeConfig()),
    masterKey: 'file:./master.key',
    upstreams: [{ name: 'api', url: process.env.BENCH_UPSTREAM, credential: { type: 'bearer', secret: 'api-token' } }],
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
    limits: JSON.parse(process.env.BENCH_LIMITS ?? '[]'),
  }, null, 2)}\n`);
  gatehouse(['secret', 'set', 'api-token'], benchSecret);
  gatehouse(['user', 'add', 'bench', '--role', 'user', '--password-stdin'], `${password}\n`);

  const devNull = openSync('/dev/null', 'w');
  serve = spawn(process.execPath, [cli, 'serve', '--config', configFile], { cwd: dir, stdio: ['ignore', devNull, 'pipe'] });
  closeSync(devNull);
  serve.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  serve.once('exit', () => {
    serveExited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const serving = await waitUntilServing(url, 30_000);
  const cookie = await login(url);
  serveAsChild({ url, cookie, pids: pids(), workers: serving.workers, processes: pids().length }, stopServe, {
    // Not this process's own: it is the bench's supervisor, not part of Gatehouse.
    cpu: () => cpuWith(pids(), { self: false }),
    /** Each of serve's processes on its own (serve first), to see whether every worker carried load. */
    processes: () => ({ processes: pids().map((pid) => ({ pid, ...processStats(pid) })) }),
    'engine-counts': engineCounts,
  });
} catch (error) {
  await stopServe();
  throw error;
}

/** SQLite in the temp dir, or (BENCH_STORE=postgres) PostgreSQL and Redis started for this run. */
async function storeConfig() {
  if ((process.env.BENCH_STORE ?? 'sqlite') === 'sqlite') return { store: { sqlite: './gatehouse.db' } };
  if (process.env.BENCH_STORE !== 'postgres') throw new Error(`BENCH_STORE is sqlite or postgres, not ${process.env.BENCH_STORE}`);
  const postgres = await startPostgres();
  engines.push(postgres);
  const redis = await startRedis();
  engines.push(redis);
  databaseUrl = await postgres.createDatabase();
  return { store: { postgres: databaseUrl }, cache: { redis: redis.url, prefix: 'bench:' } };
}

/** What PostgreSQL and Redis have done so far (zeros on SQLite); the query itself is one transaction. */
async function engineCounts() {
  const [postgres, redis] = engines;
  if (!postgres) return { transactions: 0, commands: 0, scripts: 0 };
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = current_database()');
    const info = await redisInfo(redis.port);
    // Redis counts the commands a script runs (GET, SET) as commands too: the script calls are the
    // round trips the rate rules make. The node's own `alive` every 200 ms (cluster/channel-probe.ts)
    // is a script call too, not a request's: each runs the only ZADD, so they are counted by it and
    // taken off (as test/integration/rules-store-round-trips.test.ts does). `commands` keeps them.
    const calls = (name) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    return { transactions: Number(rows[0].n), commands: Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0), scripts: calls('evalsha') + calls('eval') - calls('zadd') };
  } finally {
    await client.end();
  }
}

/** INFO stats and commandstats over a plain socket (its answer is a bulk string: read until it is whole). */
function redisInfo(port) {
  return new Promise((resolveInfo, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('redis INFO: no answer')));
    socket.on('error', reject);
    socket.on('connect', () => socket.write('*3\r\n$4\r\nINFO\r\n$5\r\nstats\r\n$12\r\ncommandstats\r\n'));
    socket.on('data', (chunk) => {
      text += chunk;
      const length = Number(/^\$(\d+)\r\n/.exec(text)?.[1] ?? -1);
      if (length >= 0 && Buffer.byteLength(text) >= length + String(length).length + 5) {
        socket.end();
        resolveInfo(text);
      }
    });
  });
}

/** One CLI command, as an operator types it, with `input` on stdin; throws with its output if it fails. */
function gatehouse(args, input) {
  const run = spawnSync(process.execPath, [cli, ...args, '--config', configFile], { cwd: dir, input, encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`gatehouse ${args.slice(0, 2).join(' ')} failed (${run.status ?? run.signal}): ${run.stderr}`);
}

/**
 * Until /healthz answers and serve has forked all its workers (none with one: serve then handles
 * requests itself). `auto` is resolved as serve resolves it (availableParallelism), and the count
 * reported is the number of processes serve actually forked.
 */
async function waitUntilServing(url, ms) {
  const count = workers === 'auto' ? availableParallelism() : workers;
  const forks = count > 1 ? count : 0;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (serveExited) throw new Error(`gatehouse serve exited: ${stderr}`);
    const forked = childPids(serve.pid).length;
    if (forked === forks && (await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) return { workers: Math.max(1, forked) };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gatehouse serve (workers: ${workersSetting}) was not serving within ${ms / 1000} s: ${stderr}`);
}

async function login(url) {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify({ username: 'bench', password }),
  });
  const setCookie = response.headers.get('set-cookie') ?? '';
  if (response.status !== 200 || !setCookie.startsWith(`${cookieName}=`)) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return setCookie.split(';', 1)[0];
}

/** SIGTERM (serve drains and stops its workers), SIGKILL to all of them after 10 s; then the temp dir. */
async function stopServe() {
  if (serve && !serveExited) {
    const all = pids();
    const exited = new Promise((r) => serve.once('exit', r));
    serve.kill('SIGTERM');
    const timer = setTimeout(() => all.forEach((pid) => killPid(pid)), 10_000);
    await exited;
    clearTimeout(timer);
  }
  for (const engine of engines.reverse()) await engine.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
