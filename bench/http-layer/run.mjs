/**
 * HTTP-layer benchmark (docs/decisions/0001-http-layer.md): the proxy hot path of
 *   A  bare node:http + undici Pool forwarder (the ceiling),
 *   B  fastify 5 + @fastify/reply-from doing the same job,
 *   C  the real Gatehouse (compiled: run `npm run build` first),
 * each in its own process, against one tiny upstream in another, loaded by wrk on loopback in
 * interleaved rounds (A B C, A B C, …) so drift on a noisy machine hits every contender alike.
 * Reports medians and ratios against A measured in the same run; it asserts nothing.
 *
 *   npm run bench:http-layer -- [--rounds 5] [--duration 5] [--connections 50] [--warmup 3] [--json FILE]
 *   npm run bench:http-layer -- --compare-dist ../other-checkout/dist    adds D: Gatehouse built elsewhere
 *                                       (a checkout with its own node_modules), to measure a change
 *   npm run bench:http-layer -- --profile [A|B|C] [--duration 10] [--top 15] [--keep]
 *                                       CPU profile of one contender (C by default): top self-time entries
 *
 * Environment: GATEHOUSE_DIST (compiled tree for C, default dist), BENCH_ACCESS_LOG (C's access log
 * file, default /dev/null), BENCH_LOG_MIN_LENGTH (pino destination buffering, default 0 as in
 * production), BENCH_LOG_LEVEL (silent: C without its access log, to measure what it costs).
 *
 * Every load run is bounded by wrk's -d (and a kill timer); the whole run by a watchdog.
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPath } from './child.mjs';
import { formatTop, topSelfTime } from './profile-top.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dist = resolve(root, process.env.GATEHOUSE_DIST ?? 'dist');

const args = parseArgs(process.argv.slice(2));
/** `--profile` profiles C; `--profile A` (or B) profiles that contender instead, for comparison. */
const profile = args.profile === undefined ? null : args.profile === true ? 'C' : String(args.profile).toUpperCase();
const rounds = Math.max(3, Number(args.rounds ?? 5));
const duration = Math.max(1, Number(args.duration ?? (profile ? 10 : 5)));
const connections = Math.max(1, Number(args.connections ?? 50));
const warmup = Math.max(1, Number(args.warmup ?? 3));

const contenders = [
  { key: 'A', label: 'bare node:http + undici Pool', file: 'server-bare.mjs' },
  { key: 'B', label: 'fastify 5 + @fastify/reply-from', file: 'server-fastify.mjs' },
  { key: 'C', label: 'Gatehouse (node:http + pipeline)', file: 'server-gatehouse.mjs' },
];
if (typeof args['compare-dist'] === 'string') {
  const other = resolve(args['compare-dist']);
  contenders.push({ key: 'D', label: `Gatehouse from ${other}`, file: 'server-gatehouse.mjs', env: { GATEHOUSE_DIST: other } });
}

/** Every child this run started, so each can be stopped by its own handle and nothing else. */
const children = new Set();

// Upper bound for the whole run: warm-ups, rounds, start-up and shutdown, with room to spare.
const budgetS = profile ? duration + warmup + 90 : contenders.length * (warmup + rounds * (duration + 3)) + 120;
const watchdog = setTimeout(() => {
  console.error(`bench: exceeded its ${budgetS} s budget; stopping`);
  killAll();
  process.exit(1);
}, budgetS * 1000);

try {
  preflight();
  if (profile) await runProfile();
  else await runComparison();
} finally {
  await stopAll();
  clearTimeout(watchdog);
}

async function runComparison() {
  const upstream = await start('upstream', 'upstream.mjs', {});
  console.log(`upstream ${upstream.ready.url} answering ${upstream.ready.bodyBytes} B of JSON`);
  for (const c of contenders) {
    c.child = await start(c.key, c.file, { BENCH_UPSTREAM: upstream.ready.url, ...c.env });
    await sanityCheck(c);
    console.log(`${c.key} ${c.label}: ${c.child.ready.url} (checked: 200 with the cookie, 401 without)`);
  }

  console.log(`\nwarm-up ${warmup} s each, then ${rounds} rounds × ${contenders.map((c) => c.key).join(' ')}, wrk -t1 -c${connections} -d${duration}s`);
  for (const c of contenders) await load(c, warmup);
  const results = Object.fromEntries(contenders.map((c) => [c.key, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const c of contenders) {
      const result = await load(c, duration);
      results[c.key].push(result);
      console.log(`round ${r} ${c.key}: ${fmt(result.rps, 0)} req/s  p50 ${ms(result.p50Us)}  p99 ${ms(result.p99Us)}  cpu ${fmt(result.cpuUsPerReq, 1)} µs/req${problems(result)}`);
    }
  }

  const table = summarise(results);
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    wrk: `wrk -t1 -c${connections} -d${duration}s --latency, ${rounds} interleaved rounds, ${warmup} s warm-up each`,
    path: benchPath,
  };
  console.log(`\n${meta.date}  node ${meta.node}  ${meta.cpus}\n${meta.wrk}\n`);
  console.log(formatTable(table));
  const c = table.find((row) => row.key === 'C');
  console.log(`\ntarget Gatehouse ≥ 0.90× A: ${c.ratio >= 0.9 ? 'met' : 'NOT met'} (median paired ratio ${c.ratio.toFixed(2)})`);
  if (args.json) writeFileSync(resolve(args.json), `${JSON.stringify({ meta, table, results }, null, 2)}\n`);
}

async function runProfile() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cpuprof-'));
  try {
    const upstream = await start('upstream', 'upstream.mjs', {});
    const c = contenders.find((x) => x.key === profile);
    if (!c) throw new Error(`--profile takes ${contenders.map((x) => x.key).join(', ')}`);
    c.child = await start(c.key, c.file, { BENCH_UPSTREAM: upstream.ready.url, ...c.env }, ['--cpu-prof', '--cpu-prof-dir', dir]);
    await sanityCheck(c);
    await load(c, warmup);
    const result = await load(c, duration);
    console.log(`${c.key} under profiler: ${fmt(result.rps, 0)} req/s, p99 ${ms(result.p99Us)} (slower than unprofiled; for shares, not speed)${problems(result)}`);
    await stop(c.child);
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('the profiler wrote no .cpuprofile');
    const top = topSelfTime(JSON.parse(readFileSync(join(dir, file), 'utf8')), Number(args.top ?? 15));
    console.log(`\nself time, whole process (start-up, warm-up and ${duration} s of load):\n${formatTop(top)}`);
    if (args.keep) console.log(`\nprofile kept: ${join(dir, file)}`);
  } finally {
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
  }
}

function preflight() {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('bench: wrk is not installed (as root: apt-get install -y wrk)');
    process.exit(1);
  }
  const entry = join(dist, 'src/app/create-gateway.js');
  if (!existsSync(entry)) {
    console.error(`bench: ${entry} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
  const newest = newestMtime(join(root, 'src'));
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

/** Forks one server process and waits (bounded) for its `ready` message. */
function start(name, file, env, execArgv = []) {
  const child = fork(join(here, file), [], {
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
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s`)), 30_000);
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

/** The contender answers the bench request correctly with its cookie, and refuses it without. */
async function sanityCheck(c) {
  const url = `${c.child.ready.url}${benchPath}`;
  const ok = await fetch(url, { headers: { cookie: c.child.ready.cookie, 'x-csrf': '1' } });
  const body = await ok.text();
  if (ok.status !== 200 || !body.includes('gatehouse-bench-upstream')) throw new Error(`${c.key}: expected the upstream's 200, got ${ok.status} ${body.slice(0, 200)}`);
  const refused = await fetch(url, { headers: { 'x-csrf': '1' } });
  await refused.arrayBuffer();
  if (refused.status !== 401) throw new Error(`${c.key}: expected 401 without a session, got ${refused.status}`);
}

function cpuOf(handle) {
  return new Promise((resolveCpu, reject) => {
    const timer = setTimeout(() => reject(new Error(`${handle.name} did not report its CPU time`)), 5_000);
    const onMessage = (message) => {
      if (message?.type !== 'cpu') return;
      clearTimeout(timer);
      handle.child.off('message', onMessage);
      resolveCpu(message.usage.user + message.usage.system);
    };
    handle.child.on('message', onMessage);
    handle.child.send({ type: 'cpu' });
  });
}

/** One wrk run against a contender, with the server's CPU time over the run. */
async function load(c, seconds) {
  const before = await cpuOf(c.child);
  const output = await wrk(c.child.ready.url + benchPath, c.child.ready.cookie, seconds);
  const after = await cpuOf(c.child);
  const line = output.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`${c.key}: no report from wrk:\n${output}`);
  const report = JSON.parse(line.slice('BENCH_JSON '.length));
  const rps = report.requests / (report.durationUs / 1e6);
  return { ...report, rps, cpuUsPerReq: (after - before) / Math.max(1, report.requests) };
}

function wrk(url, cookie, seconds) {
  return new Promise((resolveRun, reject) => {
    const run = spawn('wrk', [
      '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency',
      '-s', join(here, 'wrk-report.lua'),
      '-H', `Cookie: ${cookie}`, '-H', 'X-CSRF: 1',
      url,
    ], { stdio: ['ignore', 'pipe', 'inherit'], timeout: (seconds + 15) * 1000, killSignal: 'SIGKILL' });
    let out = '';
    run.stdout.on('data', (chunk) => {
      out += chunk;
    });
    run.once('error', reject);
    run.once('close', (code, signal) => (code === 0 ? resolveRun(out) : reject(new Error(`wrk ended with ${signal ?? code}:\n${out}`))));
  });
}

function summarise(results) {
  const base = results.A;
  return contenders.map((c) => {
    const runs = results[c.key];
    const paired = runs.map((run, i) => run.rps / base[i].rps);
    return {
      key: c.key,
      label: c.label,
      rps: median(runs.map((r) => r.rps)),
      rpsMin: Math.min(...runs.map((r) => r.rps)),
      rpsMax: Math.max(...runs.map((r) => r.rps)),
      p50Us: median(runs.map((r) => r.p50Us)),
      p99Us: median(runs.map((r) => r.p99Us)),
      cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
      ratio: median(paired),
      ratioMin: Math.min(...paired),
      ratioMax: Math.max(...paired),
      cpuRatio: median(runs.map((r, i) => base[i].cpuUsPerReq / r.cpuUsPerReq)),
      failures: runs.reduce((n, r) => n + r.non2xx + r.connectErrors + r.readErrors + r.writeErrors + r.timeouts, 0),
    };
  });
}

function formatTable(table) {
  const lines = [
    '| | contender | req/s (median, min–max) | p50 | p99 | server CPU µs/req | throughput vs A (median of rounds, min–max) | CPU efficiency vs A | failed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of table) {
    lines.push(`| ${row.key} | ${row.label} | ${fmt(row.rps, 0)} (${fmt(row.rpsMin, 0)}–${fmt(row.rpsMax, 0)}) | ${ms(row.p50Us)} | ${ms(row.p99Us)} | ${fmt(row.cpuUsPerReq, 1)} | ${row.ratio.toFixed(2)}× (${row.ratioMin.toFixed(2)}–${row.ratioMax.toFixed(2)}) | ${row.cpuRatio.toFixed(2)}× | ${row.failures} |`);
  }
  return lines.join('\n');
}

function problems(result) {
  const failed = result.non2xx + result.connectErrors + result.readErrors + result.writeErrors + result.timeouts;
  return failed > 0 ? `  !! ${failed} failed (non-2xx ${result.non2xx}, timeouts ${result.timeouts})` : '';
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fmt(value, digits) {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ms(us) {
  return `${(us / 1000).toFixed(2)} ms`;
}

async function stop(handle) {
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

async function stopAll() {
  await Promise.all([...children].map((handle) => stop(handle)));
}

function killAll() {
  for (const handle of children) handle.child.kill('SIGKILL');
}

function parseArgs(argv) {
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
