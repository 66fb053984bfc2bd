/**
 * What every bench runner shares (bench/run.mjs, bench/http-layer/run.mjs): servers forked as child
 * processes speaking the protocol of ./child.mjs, wrk on loopback with the JSON report of
 * ./wrk-report.lua, server CPU time per request, medians and paired ratios, and the bounds (a kill
 * timer per wrk run, a watchdog for the whole run). One runner per process: the children it started
 * are tracked here, and only those are ever stopped.
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const libDir = dirname(fileURLToPath(import.meta.url));
/** The repository root (bench/lib/../..). */
export const root = resolve(libDir, '../..');
/** The compiled Gatehouse the bench servers load: GATEHOUSE_DIST, or dist/. */
export const dist = resolve(root, process.env.GATEHOUSE_DIST ?? 'dist');

/** `--key value` and bare `--flag` (true); anything else is ignored. */
export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const key = arg.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[key] = true;
    else {
      out[key] = next;
      i++;
    }
  }
  return out;
}

/** A numeric flag, at least `min`; exits with a message when it is not a number. */
export function numberArg(args, name, fallback, min) {
  const value = args[name] === undefined ? fallback : Number(args[name]);
  if (!Number.isFinite(value)) {
    console.error(`bench: --${name} expects a number, not ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
  return Math.max(min, value);
}

/**
 * wrk present; the compiled Gatehouse present (built with `tsc -p tsconfig.json` first when `build`
 * is set and dist/ is missing, else exit); a warning when src/ is newer than the build.
 */
export function preflight({ build = false } = {}) {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('bench: wrk is not installed (as root: apt-get install -y wrk)');
    process.exit(1);
  }
  const entry = join(dist, 'src/app/create-gateway.js');
  if (!existsSync(entry) && build && dist === resolve(root, 'dist')) {
    console.log('bench: dist/ is missing; building it (npx tsc -p tsconfig.json)');
    const built = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit', timeout: 300_000 });
    if (built.status !== 0) {
      console.error('bench: the build failed');
      process.exit(1);
    }
  }
  if (!existsSync(entry)) {
    console.error(`bench: ${entry} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
  // Only for this checkout's own build: a GATEHOUSE_DIST elsewhere was built from other sources.
  const newest = dist === resolve(root, 'dist') ? newestMtime(join(root, 'src')) : 0;
  if (newest > statSync(entry).mtimeMs) console.warn('bench: warning: src/ has changed since the last build; `npm run build` to measure the current code');
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Date, Node.js, CPUs and kernel, for the report. */
export function machine() {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model?.trim() ?? 'unknown'}`,
    kernel: release(),
  };
}

/** Every child this run started, so each can be stopped by its own handle and nothing else. */
const children = new Set();

/**
 * Ends the whole run after `seconds`, killing the children this run started. Returns the timer's
 * clear function.
 */
export function startWatchdog(seconds) {
  const timer = setTimeout(() => {
    console.error(`bench: exceeded its ${Math.round(seconds)} s budget; stopping`);
    killAll();
    process.exit(1);
  }, seconds * 1000);
  return () => clearTimeout(timer);
}

/**
 * Forks one server process (`file`: an absolute path, or relative to bench/) and waits (bounded,
 * `readyS` seconds: 30 unless the child has more to do first, e.g. seed a million sessions) for
 * its `ready` message.
 */
export function start(name, file, env = {}, execArgv = [], { readyS = 30 } = {}) {
  const child = fork(resolve(root, 'bench', file), [], {
    cwd: root,
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const handle = { name, child, ready: null, exited: false };
  children.add(handle);
  child.once('exit', () => {
    handle.exited = true;
    children.delete(handle);
  });
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${readyS} s`)), readyS * 1000);
    child.on('message', (message) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      handle.ready = message;
      resolveReady(handle);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready`));
    });
  });
}

/** Asks a child `{ type, ...payload }` and resolves with its answer (bounded). */
export function ask(handle, type, payload = {}, timeoutMs = 5_000) {
  return new Promise((resolveAnswer, reject) => {
    const timer = setTimeout(() => {
      handle.child.off('message', onMessage);
      reject(new Error(`${handle.name} did not answer ${type}`));
    }, timeoutMs);
    const onMessage = (message) => {
      if (message?.type !== type) return;
      clearTimeout(timer);
      handle.child.off('message', onMessage);
      if (message.error) reject(new Error(`${handle.name}: ${type}: ${message.error}`));
      else resolveAnswer(message);
    };
    handle.child.on('message', onMessage);
    handle.child.send({ ...payload, type });
  });
}

/** The child's CPU time so far (user + system, all threads), in µs. */
export async function cpuOf(handle) {
  return (await statsOf(handle)).cpuUs;
}

/** The child's CPU time so far in µs and its resident set size in bytes (0 when it does not say). */
export async function statsOf(handle) {
  const { usage, rss } = await ask(handle, 'cpu');
  return { cpuUs: usage.user + usage.system, rssBytes: rss ?? 0 };
}

/** The server answers `path` with the upstream's 200 with its cookie, and refuses it (401) without. */
export async function sanityCheck(key, handle, path) {
  const url = `${handle.ready.url}${path}`;
  const ok = await fetch(url, { headers: { cookie: handle.ready.cookie, 'x-csrf': '1' } });
  const body = await ok.text();
  if (ok.status !== 200 || !body.includes('gatehouse-bench-upstream')) throw new Error(`${key}: expected the upstream's 200, got ${ok.status} ${body.slice(0, 200)}`);
  const refused = await fetch(url, { headers: { 'x-csrf': '1' } });
  await refused.arrayBuffer();
  if (refused.status !== 401) throw new Error(`${key}: expected 401 without a session, got ${refused.status}`);
}

/**
 * One wrk run (`-t1 -c<connections> -d<seconds>s`) against a server, with the server's CPU time
 * over the run: `{ requests, durationUs, rps, p50Us, p99Us, …, cpuUsPerReq }`. `cookie` replaces
 * the server's own (null: none), `script` and `scriptArgs` as in `wrk`.
 */
export async function load(handle, { path, seconds, connections, cookie = handle.ready.cookie, script, scriptArgs }) {
  const before = await statsOf(handle);
  const output = await wrk(handle.ready.url + path, cookie, seconds, connections, handle.ready.headers, { script, scriptArgs });
  const after = await statsOf(handle);
  const line = output.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`${handle.name}: no report from wrk:\n${output}`);
  const report = JSON.parse(line.slice('BENCH_JSON '.length));
  const rps = report.requests / (report.durationUs / 1e6);
  return { ...report, rps, cpuUsPerReq: (after.cpuUs - before.cpuUs) / Math.max(1, report.requests), rssBytes: after.rssBytes };
}

/**
 * wrk on a loopback URL, bounded by its own -d and a kill timer. Sends the cookie (when there is
 * one), `X-CSRF: 1` and any extra `headers`. Resolves with its stdout. `script`: another Lua script
 * than ./wrk-report.lua (it must print the same BENCH_JSON report), given `scriptArgs` after the URL.
 */
export function wrk(url, cookie, seconds, connections, headers = {}, { script = join(libDir, 'wrk-report.lua'), scriptArgs = [] } = {}) {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) throw new Error(`bench: wrk only on loopback, not ${hostname}`);
  return new Promise((resolveRun, reject) => {
    const run = spawn('wrk', [
      '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency',
      '-s', script,
      ...(cookie ? ['-H', `Cookie: ${cookie}`] : []), '-H', 'X-CSRF: 1',
      ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
      url, ...scriptArgs.map(String),
    ], { stdio: ['ignore', 'pipe', 'inherit'], timeout: (seconds + 15) * 1000, killSignal: 'SIGKILL' });
    let out = '';
    run.stdout.on('data', (chunk) => {
      out += chunk;
    });
    run.once('error', reject);
    run.once('close', (code, signal) => (code === 0 ? resolveRun(out) : reject(new Error(`wrk ended with ${signal ?? code}:\n${out}`))));
  });
}

export async function stop(handle) {
  if (handle.exited) return;
  const exited = new Promise((resolveExit) => handle.child.once('exit', resolveExit));
  try {
    handle.child.send({ type: 'stop' });
  } catch {
    handle.child.kill('SIGKILL');
  }
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((handle) => stop(handle)));
}

/** Kills every child this run started, and the processes a child said it runs (`ready.pids`: nginx). */
export function killAll() {
  for (const handle of children) {
    handle.child.kill('SIGKILL');
    for (const pid of handle.ready?.pids ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Requests wrk counted as failed: non-2xx/3xx answers, connect/read/write errors, timeouts. */
export function failures(result) {
  return result.non2xx + result.connectErrors + result.readErrors + result.writeErrors + result.timeouts;
}

export function problems(result) {
  const failed = failures(result);
  return failed > 0 ? `  !! ${failed} failed (non-2xx ${result.non2xx}, timeouts ${result.timeouts})` : '';
}

/**
 * Paired ratios of two contenders' runs, round by round (runs[i] and base[i] come from the same
 * round): `{ median, min, max }` of `value(run) / value(base)`.
 */
export function pairedRatio(runs, base, value = (r) => r.rps) {
  const ratios = runs.map((run, i) => value(run) / value(base[i]));
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function fmt(value, digits) {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ms(us) {
  return `${(us / 1000).toFixed(2)} ms`;
}
