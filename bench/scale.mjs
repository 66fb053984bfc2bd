/**
 * `npm run bench:scale` — what Gatehouse's hot path costs as the work grows, and what more worker
 * processes buy (issue 6, items 3 and 4; method and results in docs/performance.md). Five groups,
 * one after another; within a group every case is its own server process against the same upstream
 * (bench/http-layer/upstream.mjs), loaded by wrk on loopback in interleaved rounds (A B C, C B A,
 * …), and compared by medians of per-round ratios:
 *   sessions     1,000, 100,000 and 1,000,000 sessions stored, requests rotating over 1 / 1,000 /
 *                100,000 of them (bench/lib/wrk-sessions.lua; the rows are seeded straight into
 *                SQLite, see bench/lib/sessions.mjs),
 *   routes       10 vs 1,000 configured routes, the benchmarked one listed last,
 *   connections  wrk -c 1, 10, 100, 1000: throughput, p50, p99, and no request may fail; beside
 *                them the bare forwarder of bench/http-layer/server-bare.mjs at -c 1000,
 *   memory       RSS with 100,000 live sessions (every one of them used before the first round) vs
 *                one, with the three rate rules of bench/lib/rules.mjs (the full pipeline), since
 *                per-session rule state is what a live session may cost in memory,
 *   workers      `gatehouse serve` from the CLI with server.workers 1, 2 and auto (CPU time and
 *                RSS summed over serve and its workers; which worker did how much), the in-process
 *                server of the other groups beside them, and 1 vs 2 workers with the three rate
 *                rules (whose counters move into SQLite with more than one worker).
 * Prints a markdown table per group. Asserts nothing about speed: the machine is noisy; a failed
 * request (socket error or non-2xx) is reported loudly.
 *
 *   npm run bench:scale -- [--rounds 4] [--duration 4] [--warmup 2] [--connections 50]
 *                          [--only sessions,routes,connections,memory,workers | a,b,c,d,e] [--json FILE]
 * `--connections` is wrk's -c outside the connections group. Defaults: about 7 minutes. Run it
 * under `flock /tmp/gatehouse-bench.lock` when others benchmark on the same machine.
 *
 * GATEHOUSE_DIST (default dist/) is the compiled tree measured, both in process (createGateway,
 * bench/http-layer/server-gatehouse.mjs) and through its CLI (server-gatehouse-serve.mjs). Every
 * load run is bounded by wrk's -d and a kill timer, the whole run by a watchdog.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { benchPath, cookieName } from './lib/child.mjs';
import { activeRules } from './lib/rules.mjs';
import { sessionToken } from './lib/sessions.mjs';
import {
  ask, dist, failures, fmt, libDir, load, machine, median, ms, numberArg, pairedRatio, parseArgs, preflight,
  sanityCheck, start, startWatchdog, stop, stopAll,
} from './lib/harness.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 4, 1);
const duration = numberArg(args, 'duration', 4, 1);
const warmup = numberArg(args, 'warmup', 2, 1);
const connections = numberArg(args, 'connections', 50, 1);
/** Longest the memory group may spend using every one of its sessions once before measuring. */
const primeBudgetS = 150;

const gatehouse = 'http-layer/server-gatehouse.mjs';
const serve = 'http-layer/server-gatehouse-serve.mjs';
const sessionsScript = join(libDir, 'wrk-sessions.lua');

/**
 * The groups and their cases. A case: its server (`file`, server-gatehouse.mjs unless said; `env`)
 * and how it is loaded (`spread`: how many seeded sessions wrk rotates over, else the login cookie;
 * `connections`, else --connections; `prime`: every seeded session used before the rounds). Per
 * group: `ratios`, pairs [x, y] reported as x/y, and `extra` columns.
 */
const allGroups = [
  {
    name: 'sessions',
    title: 'stored sessions (issue 6, item 3)',
    cases: [
      { key: 'S1', label: '1,000 stored, 1 requested', env: seeded(1_000, 1), spread: 1 },
      { key: 'S1k', label: '1,000 stored, 1,000 requested', env: seeded(1_000, 1_000), spread: 1_000 },
      { key: 'K100k', label: '100,000 stored, 100,000 requested', env: seeded(100_000, 100_000), spread: 100_000 },
      { key: 'M1k', label: '1,000,000 stored, 1,000 requested', env: seeded(1_000_000, 1_000), spread: 1_000 },
      { key: 'M100k', label: '1,000,000 stored, 100,000 requested', env: seeded(1_000_000, 100_000), spread: 100_000 },
    ],
    // M1k/S1k and M100k/K100k: the store's size alone (same sessions requested); K100k/S1k: requests
    // spread over 100× more sessions (each one's once-a-second touch becomes a write per request).
    ratios: [['M1k', 'S1k'], ['M100k', 'K100k'], ['M100k', 'S1k'], ['K100k', 'S1k'], ['S1k', 'S1']],
    extra: ['reached', 'heap'],
  },
  {
    name: 'routes',
    title: 'configured routes (issue 6, item 3)',
    cases: [
      { key: 'R10', label: '10 routes, the benchmarked one last', env: { BENCH_ROUTES: '10' } },
      { key: 'R1000', label: '1,000 routes, the benchmarked one last', env: { BENCH_ROUTES: '1000' } },
    ],
    ratios: [['R1000', 'R10']],
    extra: [],
  },
  {
    name: 'connections',
    title: 'concurrent connections (issue 6, item 3)',
    cases: [
      ...[1, 10, 100, 1000].map((c) => ({ key: `C${c}`, label: `wrk -c ${c}`, env: {}, connections: c })),
      // The reference: what 1,000 connections do to a node:http server that does next to nothing.
      { key: 'A1000', label: 'bare node:http + undici forwarder, wrk -c 1000', file: 'http-layer/server-bare.mjs', env: {}, connections: 1000 },
    ],
    ratios: [['C1', 'C100'], ['C10', 'C100'], ['C1000', 'C100'], ['C1000', 'A1000']],
    extra: ['listen'],
  },
  {
    name: 'memory',
    title: '100,000 live sessions, three rate rules (issue 6, item 3)',
    cases: [
      { key: 'D1', label: '1 session, 3 rate rules', env: { ...seeded(1, 1), BENCH_LIMITS: JSON.stringify(activeRules()) }, spread: 1 },
      { key: 'D100k', label: '100,000 sessions, all used, 3 rate rules', env: { ...seeded(100_000, 100_000), BENCH_LIMITS: JSON.stringify(activeRules()) }, spread: 100_000, prime: true },
    ],
    ratios: [['D100k', 'D1']],
    extra: ['reached', 'before', 'heap'],
  },
  {
    name: 'workers',
    title: 'server.workers through `gatehouse serve` (issue 6, item 4)',
    cases: [
      { key: 'W1', label: 'workers: 1', file: serve, env: { BENCH_WORKERS: '1' } },
      { key: 'W2', label: 'workers: 2', file: serve, env: { BENCH_WORKERS: '2' } },
      { key: 'WA', label: `workers: auto (${availableParallelism()} here)`, file: serve, env: { BENCH_WORKERS: 'auto' } },
      { key: 'G', label: 'in process, as in the other groups (not the CLI)', env: {} },
      // With more than one worker the rate counters move from process memory into SQLite.
      { key: 'W1r', label: 'workers: 1, 3 rate rules (counters in memory)', file: serve, env: { BENCH_WORKERS: '1', BENCH_LIMITS: JSON.stringify(activeRules()) } },
      { key: 'W2r', label: 'workers: 2, 3 rate rules (counters in SQLite)', file: serve, env: { BENCH_WORKERS: '2', BENCH_LIMITS: JSON.stringify(activeRules()) } },
    ],
    // G/W1: whether the CLI's single process and the in-process server of the other groups agree.
    ratios: [['W2', 'W1'], ['WA', 'W1'], ['G', 'W1'], ['W2r', 'W1r'], ['W1r', 'W1'], ['W2r', 'W2']],
    extra: ['processes'],
  },
];

const only = typeof args.only === 'string' ? new Set(args.only.toLowerCase().split(',')) : null;
// By name, or by the item's letter in the issue's list: a sessions, b routes, c connections, d memory, e workers.
const groups = allGroups.filter((g, i) => !only || only.has(g.name) || only.has('abcde'[i]));
if (groups.length === 0) {
  console.error(`bench: --only takes ${allGroups.map((g) => g.name).join(',')} (or a,b,c,d,e)`);
  process.exit(2);
}
const caseCount = groups.reduce((n, g) => n + g.cases.length, 0);
// Upper bound: start-up (seeding a million sessions twice), priming, warm-ups, rounds, shutdown.
const budgetS = 240 + (groups.some((g) => g.name === 'memory') ? primeBudgetS : 0) + caseCount * (warmup + 3 + rounds * (duration + 3));
const clearWatchdog = startWatchdog(budgetS);

try {
  preflight({ build: true });
  checkPrerequisites();
  const meta = { ...machine(), dist, build: buildOf(dist), builtAt: builtAt(), loadBefore: loadavg().map((l) => l.toFixed(2)).join(' ') };
  console.log(`${meta.date}  node ${meta.node}  ${meta.cpus}  kernel ${meta.kernel}  load ${meta.loadBefore}`);
  console.log(`Gatehouse: ${meta.build}\nwrk -t1 -d${duration}s --latency, ${warmup} s warm-up per case, ${rounds} rounds (order reversed every other round), -c ${connections} unless the case says otherwise; budget ${Math.round(budgetS)} s`);
  const upstream = await start('upstream', 'http-layer/upstream.mjs');
  const reports = [];
  for (const group of groups) reports.push(await runGroup(group, upstream));
  meta.loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
  if (builtAt() !== meta.builtAt) {
    meta.build += ' — REBUILT DURING THE RUN: later groups measured another build';
    console.warn(`bench: warning: ${dist} was rebuilt during the run; the groups may have measured different code`);
  }
  meta.elapsedS = Math.round((Date.now() - Date.parse(meta.date)) / 1000);
  console.log(`\n# Results\n\n${meta.date}, ${meta.cpus}, node ${meta.node}, load average ${meta.loadBefore} before, ${meta.loadAfter} after, ${meta.elapsedS} s in all\nGatehouse: ${meta.build}\n`);
  for (const report of reports) console.log(`${report.text}\n`);
  if (args.json) writeFileSync(resolve(String(args.json)), `${JSON.stringify({ meta, reports }, null, 2)}\n`);
} finally {
  await stopAll();
  clearWatchdog();
}

/** BENCH_SESSIONS and BENCH_COOKIE_SPREAD of bench/http-layer/server-gatehouse.mjs. */
function seeded(stored, spread) {
  return { BENCH_SESSIONS: String(stored), BENCH_COOKIE_SPREAD: String(spread) };
}

/** The CLI for the workers group; enough file descriptors for the largest -c. */
function checkPrerequisites() {
  if (groups.some((g) => g.name === 'workers') && !existsSync(join(dist, 'src/cli/main.js'))) {
    console.error(`bench: ${join(dist, 'src/cli/main.js')} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
  const most = Math.max(connections, ...groups.flatMap((g) => g.cases.map((c) => c.connections ?? 0)));
  const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  // wrk holds one descriptor per connection plus a few of its own.
  if (Number.isFinite(limit) && limit < most + 64) {
    console.error(`bench: wrk -c ${most} needs more open files than \`ulimit -n\` allows (${limit}); raise it (ulimit -n 4096) and run again`);
    process.exit(1);
  }
}

/**
 * Which tree is measured: when it was compiled, and the commit of the checkout it sits in (and
 * whether that checkout's src/ differs from it now, which need not be what was compiled).
 */
function buildOf(tree) {
  const compiled = `${tree}, compiled ${new Date(builtAt()).toISOString()}`;
  const repo = resolve(tree, '..');
  const head = spawnSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) return compiled;
  const dirty = spawnSync('git', ['-C', repo, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim() !== '';
  return `${compiled}, in a checkout of ${head.stdout.trim()}${dirty ? ' whose src/ has uncommitted changes' : ' with src/ as committed'}`;
}

/** When the measured tree was last compiled: a rebuild in the middle of a run (someone else's `npm run build`) must not pass unnoticed. */
function builtAt() {
  return statSync(join(dist, 'src/app/create-gateway.js')).mtimeMs;
}

/** Starts a group's servers, checks them, warms them up, runs its rounds, stops them; its report. */
async function runGroup(group, upstream) {
  console.log(`\n## ${group.name}: ${group.title}`);
  const cases = group.cases.map((c) => ({ ...c, file: c.file ?? gatehouse, offset: 0, runs: [] }));
  // Side by side: seeding a million sessions takes a while, and the two seeding servers overlap.
  await Promise.all(cases.map(async (c) => {
    c.child = await start(c.key, c.file, { BENCH_UPSTREAM: upstream.ready.url, ...c.env }, [], { readyS: 180 });
  }));
  try {
    for (const c of cases) {
      await check(c);
      c.before = await memoryOf(c);
      const seededNote = c.child.ready.sessions ? `, ${fmt(c.child.ready.sessions, 0)} sessions seeded in ${(c.child.ready.seedMs / 1000).toFixed(1)} s` : '';
      console.log(`${c.key} ${c.label}: ${c.child.ready.url}${seededNote} (checked)`);
    }
    for (const c of cases) await run(c, warmup);
    for (const c of cases.filter((c) => c.prime)) await prime(c);
    for (let r = 0; r < rounds; r++) {
      for (const c of r % 2 === 0 ? cases : [...cases].reverse()) {
        const shares = c.file === serve ? await processCpu(c) : null;
        const result = await run(c, duration);
        if (shares) result.shares = shareOf(shares, await processCpu(c));
        result.memory = group.extra.includes('heap') ? await memoryOf(c) : null;
        c.runs.push(result);
        console.log(`round ${r + 1} ${c.key.padEnd(5)}: ${fmt(result.rps, 0)} req/s  p50 ${ms(result.p50Us)}  p99 ${ms(result.p99Us)}  cpu ${fmt(result.cpuUsPerReq, 1)} µs/req  rss ${mib(result.rssBytes)}${result.shares ? `  cpu split ${result.shares}` : ''}${result.listenOverflows ? `  listen overflows ${result.listenOverflows}` : ''}${loud(result)}`);
      }
    }
    for (const c of cases.filter((c) => c.spread)) c.reached = (await ask(c.child, 'sessions-used', {}, 30_000)).used;
  } finally {
    await Promise.all(cases.map((c) => stop(c.child)));
  }
  return report(group, cases);
}

/** 200 with the login cookie and 401 without; with a spread, the last seeded session's cookie works too; with decoy routes, the first and last decoy forward. */
async function check(c) {
  await sanityCheck(c.key, c.child, benchPath);
  const probes = [];
  if (c.spread) probes.push([benchPath, `${cookieName}=${sessionToken(c.spread - 1)}`]);
  if (c.child.ready.routes > 1) probes.push(['/r0/items', c.child.ready.cookie], [`/r${c.child.ready.routes - 2}/items`, c.child.ready.cookie]);
  for (const [path, cookie] of probes) {
    const response = await fetch(`${c.child.ready.url}${path}`, { headers: { cookie, 'x-csrf': '1' } });
    const body = await response.text();
    if (response.status !== 200 || !body.includes('gatehouse-bench-upstream')) throw new Error(`${c.key}: ${path} answered ${response.status}, not the upstream's 200`);
  }
}

/** One wrk run of a case: rotating over its seeded sessions (continuing where the last run stopped), or with the login cookie. */
async function run(c, seconds) {
  const rotating = c.spread
    ? { cookie: null, script: sessionsScript, scriptArgs: [c.child.ready.cookieFile, cookieName, c.spread, c.offset] }
    : {};
  const overflowsBefore = listenOverflows();
  const result = await load(c.child, { path: benchPath, seconds, connections: c.connections ?? connections, ...rotating });
  result.listenOverflows = listenOverflows() - overflowsBefore;
  c.offset += result.requests;
  return result;
}

/**
 * The kernel's count of connections dropped because a listener's accept queue was full (TcpExt
 * ListenOverflows, all listeners on the machine; /proc/net/netstat): a client whose handshake
 * completed but whose server had no room waits for the SYN-ACK's retransmission (1 s, then 3 s…),
 * and its first request's latency with it. 0 where /proc is not readable.
 */
function listenOverflows() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const [names, values] = lines.map((l) => l.split(/\s+/));
    return Number(values[names.indexOf('ListenOverflows')]) || 0;
  } catch {
    return 0;
  }
}

/** Runs the case until each of its seeded sessions has been used at least once (bounded). */
async function prime(c) {
  const started = Date.now();
  let used = (await ask(c.child, 'sessions-used')).used;
  while (used < c.spread) {
    if (Date.now() - started > primeBudgetS * 1000) throw new Error(`${c.key}: only ${used} of ${c.spread} sessions used after ${primeBudgetS} s`);
    await run(c, 5);
    used = (await ask(c.child, 'sessions-used')).used;
  }
  c.primedS = (Date.now() - started) / 1000;
  console.log(`${c.key}: all ${fmt(used, 0)} sessions used in ${c.primedS.toFixed(0)} s of load before the rounds`);
}

/** process.memoryUsage() of an in-process gateway (null for the CLI's processes). */
async function memoryOf(c) {
  if (c.file !== gatehouse) return null;
  return (await ask(c.child, 'memory')).memory;
}

/** CPU time so far of each of serve's processes (serve first). */
async function processCpu(c) {
  return (await ask(c.child, 'processes')).processes;
}

/** Each process's share of the CPU used between two readings, e.g. "primary 1 % · 50 % · 49 %" (serve, then its workers). */
function shareOf(before, after) {
  const used = after.map((p) => p.cpuUs - (before.find((b) => b.pid === p.pid)?.cpuUs ?? 0));
  const total = used.reduce((a, b) => a + b, 0) || 1;
  return used.map((u, i) => `${i === 0 && after.length > 1 ? 'primary ' : ''}${Math.round((100 * u) / total)} %`).join(' · ');
}

/** A failed request never passes quietly. */
function loud(result) {
  const failed = failures(result);
  return failed ? `  !!! ${failed} FAILED: non-2xx ${result.non2xx}, connect ${result.connectErrors}, read ${result.readErrors}, write ${result.writeErrors}, timeouts ${result.timeouts}` : '';
}

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** A group's table, ratio table and notes, as markdown. */
function report(group, cases) {
  const byKey = Object.fromEntries(cases.map((c) => [c.key, c]));
  const columns = [
    ['req/s (median, min–max)', (c) => `${fmt(median(c.runs.map((r) => r.rps)), 0)} (${fmt(Math.min(...c.runs.map((r) => r.rps)), 0)}–${fmt(Math.max(...c.runs.map((r) => r.rps)), 0)})`],
    ['p50', (c) => ms(median(c.runs.map((r) => r.p50Us)))],
    ['p99', (c) => ms(median(c.runs.map((r) => r.p99Us)))],
    ['max (all rounds)', (c) => ms(Math.max(...c.runs.map((r) => r.maxUs)))],
    ['server CPU µs/req', (c) => fmt(median(c.runs.map((r) => r.cpuUsPerReq)), 1)],
    ['RSS', (c) => mib(median(c.runs.map((r) => r.rssBytes)))],
    ...(group.extra.includes('before') ? [['RSS before load', (c) => (c.before ? mib(c.before.rss) : '–')]] : []),
    ...(group.extra.includes('heap') ? [['JS heap used', (c) => mib(median(c.runs.map((r) => r.memory.heapUsed)))]] : []),
    ...(group.extra.includes('reached') ? [['sessions reached', (c) => (c.spread ? fmt(c.reached, 0) : '–')]] : []),
    ...(group.extra.includes('listen') ? [['listen-queue overflows (all rounds)', (c) => fmt(c.runs.reduce((n, r) => n + r.listenOverflows, 0), 0)]] : []),
    ...(group.extra.includes('processes') ? [
      ['processes', (c) => String(c.child.ready.processes ?? 1)],
      ['CPU split (a middle round)', (c) => c.runs[c.runs.length >> 1].shares ?? '–'],
    ] : []),
    ['failed', (c) => {
      const failed = c.runs.reduce((n, r) => n + failures(r), 0);
      return failed ? `**${failed}**` : '0';
    }],
  ];
  const lines = [
    `### ${group.name}: ${group.title}`,
    '',
    `| | case | ${columns.map(([head]) => head).join(' | ')} |`,
    `|---|---|${columns.map(() => '---:').join('|')}|`,
    ...cases.map((c) => `| ${c.key} | ${c.label} | ${columns.map(([, value]) => value(c)).join(' | ')} |`),
    '',
    '| ratio | throughput (median of per-round ratios, min–max) | p99 | server CPU per request | RSS |',
    '|---|---:|---:|---:|---:|',
  ];
  const ratios = group.ratios.map(([x, y]) => {
    const [a, b] = [byKey[x].runs, byKey[y].runs];
    const ratio = { name: `${x}/${y}`, throughput: pairedRatio(a, b), p99: pairedRatio(a, b, (r) => r.p99Us), cpu: pairedRatio(a, b, (r) => r.cpuUsPerReq), rss: pairedRatio(a, b, (r) => r.rssBytes) };
    lines.push(`| ${ratio.name} | **${ratio.throughput.median.toFixed(2)}×** (${ratio.throughput.min.toFixed(2)}–${ratio.throughput.max.toFixed(2)}) | ${ratio.p99.median.toFixed(2)}× | ${ratio.cpu.median.toFixed(2)}× (${ratio.cpu.min.toFixed(2)}–${ratio.cpu.max.toFixed(2)}) | ${ratio.rss.median.toFixed(2)}× |`);
    return ratio;
  });
  const failed = cases.filter((c) => c.runs.some((r) => failures(r) > 0));
  if (failed.length) lines.push('', `**!!! Failed requests in ${failed.map((c) => c.key).join(', ')}** (see the per-round lines).`);
  for (const c of cases.filter((c) => c.primedS)) lines.push('', `${c.key}: all ${fmt(c.spread, 0)} sessions used in ${c.primedS.toFixed(0)} s of load before the first round.`);
  return { group: group.name, cases: cases.map(({ child, ...c }) => ({ ...c, ready: { ...child.ready, cookie: undefined } })), ratios, text: lines.join('\n') };
}
