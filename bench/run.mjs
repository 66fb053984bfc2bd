/**
 * `npm run bench` — what the rate rules cost on the proxy hot path (issue 3, item 5; method and
 * results in docs/performance.md). In one run, each server in its own process against the tiny
 * upstream of bench/http-layer/, loaded by wrk on loopback in interleaved rounds:
 *   A   the bare node:http + undici Pool forwarder (bench/http-layer/server-bare.mjs), the ceiling,
 *   G0  Gatehouse, compiled (dist/), with no `limits`,
 *   G3  the same Gatehouse with the three rate rules of bench/lib/rules.mjs: all match the benchmarked
 *       request, none triggers during the run.
 * Before measuring, three variants of G3's config, each with one rule's `max` lowered, must refuse
 * (so the rules are live), and after every G3 round its counter store must hold one hit per request
 * for each request-counting rule (so they were evaluated on every request).
 * Prints req/s, p50, p99 and server CPU per request, with G0/A, G3/A and the headline G3/G0 as
 * medians of per-round ratios. Asserts nothing about speed: the machine is noisy.
 *
 *   npm run bench -- [--rounds 8] [--duration 5] [--warmup 3] [--connections 50] [--json FILE]
 *
 * Builds dist/ first when it is missing. Environment as bench/http-layer/run.mjs (GATEHOUSE_DIST,
 * BENCH_ACCESS_LOG, BENCH_LOG_MIN_LENGTH, BENCH_LOG_LEVEL). Every load run is bounded by wrk's -d
 * and a kill timer, the whole run by a watchdog.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { benchPath } from './lib/child.mjs';
import { activeRules, requestRules } from './lib/rules.mjs';
import {
  ask, failures, fmt, load, machine, median, ms, numberArg, pairedRatio, parseArgs, preflight, problems,
  sanityCheck, start, startWatchdog, stop, stopAll,
} from './lib/harness.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 8, 1);
const duration = numberArg(args, 'duration', 5, 1);
const warmup = numberArg(args, 'warmup', 3, 1);
const connections = numberArg(args, 'connections', 50, 1);

/**
 * The liveness proof: G3's config with one rule's max lowered, and what a client then gets, in
 * order. `unavailable` is the upstream's 503 (bench/http-layer/upstream.mjs).
 */
const unavailable = '/api/unavailable';
const liveness = [
  { rule: 'per-session', max: 3, steps: [[benchPath, 200], [benchPath, 200], [benchPath, 200], [benchPath, 429], [benchPath, 429]] },
  { rule: 'per-user', max: 3, steps: [[benchPath, 200], [benchPath, 200], [benchPath, 200], [benchPath, 403], [benchPath, 403]] },
  { rule: 'ip-5xx', max: 2, steps: [[unavailable, 503], [unavailable, 503], [benchPath, 200], [unavailable, 503], [benchPath, 403]] },
];

const gatehouse = 'http-layer/server-gatehouse.mjs';
const contenders = [
  { key: 'A', label: 'bare node:http + undici Pool', file: 'http-layer/server-bare.mjs', env: {} },
  { key: 'G0', label: 'Gatehouse, no limits', file: gatehouse, env: { BENCH_LIMITS: '[]' } },
  { key: 'G3', label: 'Gatehouse, 3 active rate rules', file: gatehouse, env: { BENCH_LIMITS: JSON.stringify(activeRules()) } },
];

// Upper bound for the whole run: build, start-up, liveness, warm-ups, rounds and shutdown, with room to spare.
const budgetS = 300 + contenders.length * (warmup + rounds * (duration + 3));
const clearWatchdog = startWatchdog(budgetS);

try {
  preflight({ build: true });
  const upstream = await start('upstream', 'http-layer/upstream.mjs');
  console.log(`upstream ${upstream.ready.url} answering ${upstream.ready.bodyBytes} B of JSON`);
  const live = await proveRulesLive(upstream);
  for (const c of contenders) {
    c.child = await start(c.key, c.file, { BENCH_UPSTREAM: upstream.ready.url, ...c.env });
    await sanityCheck(c.key, c.child, benchPath);
    console.log(`${c.key} ${c.label}: ${c.child.ready.url} (checked: 200 with the cookie, 401 without)`);
  }
  await measure(live);
} finally {
  await stopAll();
  clearWatchdog();
}

/** Starts the liveness variants side by side, plays each one's steps, stops them. */
async function proveRulesLive(upstream) {
  console.log('\nrules live? G3\'s config with one max lowered must refuse:');
  const variants = await Promise.all(liveness.map(async (variant) => {
    const env = { BENCH_UPSTREAM: upstream.ready.url, BENCH_LIMITS: JSON.stringify(activeRules({ [variant.rule]: variant.max })) };
    return { ...variant, child: await start(`G3 with ${variant.rule} max ${variant.max}`, gatehouse, env) };
  }));
  const proofs = [];
  try {
    for (const variant of variants) {
      const got = [];
      for (const [path, _] of variant.steps) {
        const response = await fetch(`${variant.child.ready.url}${path}`, { headers: { cookie: variant.child.ready.cookie, 'x-csrf': '1' } });
        const body = await response.text();
        got.push({ path, status: response.status, code: errorCode(body) });
      }
      const expected = variant.steps.map(([, status]) => status);
      const line = got.map((g) => `${g.path === unavailable ? '5xx-path ' : ''}${g.status}${g.code ? ` ${g.code}` : ''}`).join(', ');
      if (got.some((g, i) => g.status !== expected[i])) {
        throw new Error(`rule ${variant.rule} with max ${variant.max}: expected ${expected.join(' ')}, got ${line}`);
      }
      console.log(`  ${variant.rule} (max ${variant.max}): ${line}  ✓`);
      proofs.push({ rule: variant.rule, max: variant.max, got });
    }
  } finally {
    await Promise.all(variants.map((variant) => stop(variant.child)));
  }
  return proofs;
}

/** The `error` code of a Gatehouse error body, if it is one. */
function errorCode(body) {
  try {
    const parsed = JSON.parse(body);
    return typeof parsed?.error === 'string' ? parsed.error : typeof parsed?.error?.code === 'string' ? parsed.error.code : null;
  } catch {
    return null;
  }
}

async function measure(live) {
  const keys = contenders.map((c) => c.key);
  console.log(`\nwarm-up ${warmup} s each, then ${rounds} rounds of ${keys.join(' ')} / ${[...keys].reverse().join(' ')} alternately, wrk -t1 -c${connections} -d${duration}s`);
  for (const c of contenders) await load(c.child, { path: benchPath, seconds: warmup, connections });

  const results = Object.fromEntries(keys.map((key) => [key, []]));
  const ruleChecks = [];
  for (let r = 0; r < rounds; r++) {
    // A G0 G3, then G3 G0 A: G0 and G3 always run back to back (their ratio is the headline), and
    // each contender runs as often early in a round as late.
    const order = r % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      const since = c.key === 'G3' ? (await ask(c.child, 'clock')).now : null;
      const result = await load(c.child, { path: benchPath, seconds: duration, connections });
      results[c.key].push(result);
      let note = '';
      if (since !== null) {
        const { hits } = await ask(c.child, 'rule-hits', { since });
        ruleChecks.push(checkHits(hits, result));
        note = `  rule hits/req ${Object.entries(hits).map(([name, n]) => `${name} ${(n / result.requests).toFixed(3)}`).join(', ')}${ruleChecks.at(-1).ok ? '' : '  !! not every request was counted'}`;
      }
      console.log(`round ${r + 1} ${c.key.padEnd(2)}: ${fmt(result.rps, 0)} req/s  p50 ${ms(result.p50Us)}  p99 ${ms(result.p99Us)}  cpu ${fmt(result.cpuUsPerReq, 1)} µs/req${problems(result)}${note}`);
    }
  }

  const table = contenders.map((c) => summarise(c, results[c.key], results.A));
  const ratios = [['G0', 'A'], ['G3', 'A'], ['G3', 'G0']].map(([x, y]) => ({
    name: `${x}/${y}`,
    throughput: pairedRatio(results[x], results[y]),
    cpu: pairedRatio(results[x], results[y], (run) => run.cpuUsPerReq),
  }));
  const ruleCostUs = median(results.G3.map((run, i) => run.cpuUsPerReq - results.G0[i].cpuUsPerReq));
  const meta = {
    ...machine(),
    wrk: `wrk -t1 -c${connections} -d${duration}s --latency on 127.0.0.1, ${warmup} s warm-up each, ${rounds} interleaved rounds (A G0 G3 / G3 G0 A alternately)`,
    path: benchPath,
    rules: activeRules(),
  };

  console.log(`\n${meta.date}  node ${meta.node}  ${meta.cpus}  kernel ${meta.kernel}\n${meta.wrk}\n`);
  console.log(formatTable(table));
  console.log(`\n${formatRatios(ratios)}`);
  const headline = ratios.find((r) => r.name === 'G3/G0');
  console.log(`\nthree active rate rules: throughput ${headline.throughput.median.toFixed(2)}× of no rules (G3/G0, median of ${rounds} paired rounds, ${headline.throughput.min.toFixed(2)}–${headline.throughput.max.toFixed(2)}); server CPU ${ruleCostUs >= 0 ? '+' : ''}${fmt(ruleCostUs, 1)} µs/req (median per-round difference)`);
  const allCounted = ruleChecks.every((check) => check.ok);
  console.log(`rules evaluated on every request: ${allCounted ? 'yes' : 'NO'} (${requestRules.join(', ')}: hits counted in G3's store ≥ wrk's completed requests in each of ${ruleChecks.length} rounds; liveness variants refused as expected)`);
  if (args.json) writeFileSync(resolve(String(args.json)), `${JSON.stringify({ meta, live, table, ratios, ruleCostUs, ruleChecks, results }, null, 2)}\n`);
}

/**
 * Each request-counting rule holds a hit for every request wrk completed in the round, and at most
 * one per connection more (requests in flight when wrk stopped are counted by the gateway, not by wrk).
 */
function checkHits(hits, result) {
  const ok = requestRules.every((name) => hits[name] >= result.requests && hits[name] <= result.requests + connections);
  return { ok, requests: result.requests, hits };
}

function summarise(c, runs, base) {
  const throughput = pairedRatio(runs, base);
  return {
    key: c.key,
    label: c.label,
    rps: median(runs.map((r) => r.rps)),
    rpsMin: Math.min(...runs.map((r) => r.rps)),
    rpsMax: Math.max(...runs.map((r) => r.rps)),
    p50Us: median(runs.map((r) => r.p50Us)),
    p99Us: median(runs.map((r) => r.p99Us)),
    cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
    vsA: throughput.median,
    failures: runs.reduce((n, r) => n + failures(r), 0),
  };
}

function formatTable(table) {
  const lines = [
    '| | contender | req/s (median, min–max) | p50 | p99 | server CPU µs/req | throughput vs A | failed |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of table) {
    lines.push(`| ${row.key} | ${row.label} | ${fmt(row.rps, 0)} (${fmt(row.rpsMin, 0)}–${fmt(row.rpsMax, 0)}) | ${ms(row.p50Us)} | ${ms(row.p99Us)} | ${fmt(row.cpuUsPerReq, 1)} | ${row.vsA.toFixed(2)}× | ${row.failures} |`);
  }
  return lines.join('\n');
}

function formatRatios(ratios) {
  const lines = [
    '| ratio | throughput (median of per-round ratios, min–max) | server CPU per request (median, min–max) |',
    '|---|---:|---:|',
  ];
  for (const { name, throughput, cpu } of ratios) {
    const bold = name === 'G3/G0' ? '**' : '';
    lines.push(`| ${bold}${name}${bold} | ${bold}${throughput.median.toFixed(2)}×${bold} (${throughput.min.toFixed(2)}–${throughput.max.toFixed(2)}) | ${cpu.median.toFixed(2)}× (${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)}) |`);
  }
  return lines.join('\n');
}
