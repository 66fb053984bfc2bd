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
 * file, default /dev/null, written as `gatehouse serve` writes stdout), BENCH_LOG_LEVEL (silent: C
 * without its access log, to measure what it costs).
 *
 * Every load run is bounded by wrk's -d (and a kill timer); the whole run by a watchdog.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchPath } from '../lib/child.mjs';
import {
  failures, fmt, load as loadServer, machine, median, ms, pairedRatio, parseArgs, preflight, problems,
  sanityCheck as checkServer, start, startWatchdog, stop, stopAll,
} from '../lib/harness.mjs';
import { formatTop, topSelfTime } from './profile-top.mjs';

const args = parseArgs(process.argv.slice(2));
/** `--profile` profiles C; `--profile A` (or B) profiles that contender instead, for comparison. */
const profile = args.profile === undefined ? null : args.profile === true ? 'C' : String(args.profile).toUpperCase();
const rounds = Math.max(3, Number(args.rounds ?? 5));
const duration = Math.max(1, Number(args.duration ?? (profile ? 10 : 5)));
const connections = Math.max(1, Number(args.connections ?? 50));
const warmup = Math.max(1, Number(args.warmup ?? 3));

const contenders = [
  { key: 'A', label: 'bare node:http + undici Pool', file: 'http-layer/server-bare.mjs' },
  { key: 'B', label: 'fastify 5 + @fastify/reply-from', file: 'http-layer/server-fastify.mjs' },
  { key: 'C', label: 'Gatehouse (node:http + pipeline)', file: 'http-layer/server-gatehouse.mjs' },
];
if (typeof args['compare-dist'] === 'string') {
  const other = resolve(args['compare-dist']);
  contenders.push({ key: 'D', label: `Gatehouse from ${other}`, file: 'http-layer/server-gatehouse.mjs', env: { GATEHOUSE_DIST: other } });
}

// Upper bound for the whole run: warm-ups, rounds, start-up and shutdown, with room to spare.
const budgetS = profile ? duration + warmup + 90 : contenders.length * (warmup + rounds * (duration + 3)) + 120;
const clearWatchdog = startWatchdog(budgetS);

try {
  preflight();
  if (profile) await runProfile();
  else await runComparison();
} finally {
  await stopAll();
  clearWatchdog();
}

async function runComparison() {
  const upstream = await start('upstream', 'http-layer/upstream.mjs', {});
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
    ...machine(),
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
    const upstream = await start('upstream', 'http-layer/upstream.mjs', {});
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

function sanityCheck(c) {
  return checkServer(c.key, c.child, benchPath);
}

function load(c, seconds) {
  return loadServer(c.child, { path: benchPath, seconds, connections });
}

function summarise(results) {
  const base = results.A;
  return contenders.map((c) => {
    const runs = results[c.key];
    const paired = pairedRatio(runs, base);
    return {
      key: c.key,
      label: c.label,
      rps: median(runs.map((r) => r.rps)),
      rpsMin: Math.min(...runs.map((r) => r.rps)),
      rpsMax: Math.max(...runs.map((r) => r.rps)),
      p50Us: median(runs.map((r) => r.p50Us)),
      p99Us: median(runs.map((r) => r.p99Us)),
      cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
      ratio: paired.median,
      ratioMin: paired.min,
      ratioMax: paired.max,
      cpuRatio: median(runs.map((r, i) => base[i].cpuUsPerReq / r.cpuUsPerReq)),
      failures: runs.reduce((n, r) => n + failures(r), 0),
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
