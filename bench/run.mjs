/**
 * `npm run bench` — Gatehouse against its peers and what the rate rules cost on the proxy hot path
 * (issue 3, item 5; issue 6, item 1; method and results in docs/performance.md). In one run, each
 * server in its own process against the tiny upstream of bench/http-layer/, loaded by wrk on
 * loopback in interleaved rounds:
 *   U   the upstream alone, loaded directly (with the bearer): the upstream-only throughput,
 *   A   the bare node:http + undici Pool forwarder (bench/http-layer/server-bare.mjs), the ceiling,
 *   E   express 5 + express-session (MemoryStore) + http-proxy-middleware 3 (server-express.mjs),
 *   N   nginx auth_request → a node:http session check → proxy_pass (server-nginx.mjs; only when
 *       `nginx` is installed),
 *   G0  Gatehouse, compiled (dist/), with no `limits`,
 *   G3  the same Gatehouse with the three rate rules of bench/lib/rules.mjs: all match the benchmarked
 *       request, none triggers during the run,
 *   GL  Gatehouse with an OIDC provider configured (bench/http-layer/oidc-provider.mjs), a local
 *       (password) session and the static secret,
 *   GU  the same with a session that logged in at the provider and a `user-token` route: the
 *       upstream gets the user's access token (issue 13 item 9, decision 0012). GU/GL is what a
 *       user token costs against a static secret; both hold their session in memory, and the access
 *       token lives an hour, so nothing is refreshed during the run.
 * Before measuring, three variants of G3's config, each with one rule's `max` lowered, must refuse
 * (so the rules are live), and after every G3 round its counter store must hold one hit per request
 * for each request-counting rule (so they were evaluated on every request).
 * Prints req/s, p50, p99, server CPU per request (N: checker + nginx master + worker) and RSS, with
 * throughput ratios against A and against N, and G0/A, G3/A and the headline G3/G0, as medians of
 * per-round ratios. Asserts nothing about speed: the machine is noisy.
 *
 *   npm run bench -- [--body small|64k] [--rounds 6] [--duration 3] [--warmup 2] [--connections 50]
 *                    [--only U,A,E,N,G0,G3,GL,GU] [--json FILE] [--cluster off] [--websocket off]
 * Then, unless `--cluster off`, bench/cluster.mjs with its defaults (about a minute and a half):
 * one node on PostgreSQL + Redis against one on SQLite, and two nodes behind haproxy against one;
 * then, unless `--websocket off`, bench/websocket.mjs (WebSocket messages through Gatehouse and
 * directly: messages/s ratio and added latency per message; under a minute).
 * `--body 64k`: the upstream answers 64 KiB of JSON instead of ~220 B. The defaults keep a run
 * near 2–3 minutes; `--rounds 8 --duration 5 --warmup 3` is the longer run.
 *
 * Builds dist/ first when it is missing. Environment as bench/http-layer/run.mjs (GATEHOUSE_DIST,
 * BENCH_ACCESS_LOG, BENCH_LOG_LEVEL). Every load run is bounded by wrk's -d
 * and a kill timer, the whole run by a watchdog.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { benchPath } from './lib/child.mjs';
import { freePort } from './lib/processes.mjs';
import { activeRules, requestRules } from './lib/rules.mjs';
import {
  ask, failures, fmt, load, machine, median, ms, numberArg, pairedRatio, parseArgs, preflight, problems,
  sanityCheck, start, startWatchdog, stop, stopAll,
} from './lib/harness.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 6, 1);
const duration = numberArg(args, 'duration', 3, 1);
const warmup = numberArg(args, 'warmup', 2, 1);
const connections = numberArg(args, 'connections', 50, 1);
const bodies = { small: 0, '64k': 65_536 };
const body = String(args.body ?? 'small').toLowerCase();
if (!Object.hasOwn(bodies, body)) {
  console.error(`bench: --body takes ${Object.keys(bodies).join(' or ')}, not ${JSON.stringify(args.body)}`);
  process.exit(2);
}
const hasNginx = !spawnSync('nginx', ['-v']).error;

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
const allContenders = [
  { key: 'U', label: 'upstream alone (no proxy)', upstream: true },
  { key: 'A', label: 'bare node:http + undici Pool', file: 'http-layer/server-bare.mjs', env: {} },
  { key: 'E', label: 'express 5 + express-session + http-proxy-middleware 3', file: 'http-layer/server-express.mjs', env: {} },
  { key: 'N', label: 'nginx auth_request → node session check → proxy_pass', file: 'http-layer/server-nginx.mjs', env: {} },
  { key: 'G0', label: 'Gatehouse, no limits', file: gatehouse, env: { BENCH_LIMITS: '[]' } },
  { key: 'G3', label: 'Gatehouse, 3 active rate rules', file: gatehouse, env: { BENCH_LIMITS: JSON.stringify(activeRules()) } },
  { key: 'GL', label: 'Gatehouse + OIDC provider, local session, static secret', file: gatehouse, env: { BENCH_LIMITS: '[]', BENCH_SESSION: 'local' }, oidc: true },
  { key: 'GU', label: 'Gatehouse, OIDC session, user-token route', file: gatehouse, env: { BENCH_LIMITS: '[]', BENCH_SESSION: 'oidc' }, oidc: true },
];
const only = typeof args.only === 'string' ? new Set(args.only.toUpperCase().split(',')) : null;
const skipped = [];
const contenders = allContenders.filter((c) => {
  if (only && !only.has(c.key) && c.key !== 'A') return false;
  if (c.key === 'N' && !hasNginx) {
    skipped.push('N (nginx is not installed; as root: apt-get install -y nginx)');
    return false;
  }
  return true;
});
const has = (key) => contenders.some((c) => c.key === key);
/** Where the load goes: the gateway's /api path, or the upstream's own path for U. */
const pathOf = (c) => (c.upstream ? benchPath.replace(/^\/api/, '') : benchPath);

// Upper bound for the whole run: build, start-up, liveness, warm-ups, rounds and shutdown, with room to spare.
const budgetS = 300 + contenders.length * (warmup + rounds * (duration + 3));
const clearWatchdog = startWatchdog(budgetS);

try {
  preflight({ build: true });
  const upstream = await start('upstream', 'http-layer/upstream.mjs', { BENCH_BODY_BYTES: String(bodies[body]) });
  console.log(`upstream ${upstream.ready.url} answering ${upstream.ready.bodyBytes} B of JSON (--body ${body})`);
  for (const note of skipped) console.log(`skipped: ${note}`);
  const live = has('G3') ? await proveRulesLive(upstream) : [];
  const provider = await startProvider(contenders.filter((c) => c.oidc));
  for (const c of contenders) {
    if (c.upstream) {
      c.child = upstream;
      const direct = await fetch(`${upstream.ready.url}${pathOf(c)}`, { headers: upstream.ready.headers });
      const text = await direct.text();
      if (direct.status !== 200 || !text.includes('gatehouse-bench-upstream')) throw new Error(`U: expected 200, got ${direct.status}`);
      console.log(`${c.key} ${c.label}: ${upstream.ready.url} (checked: 200 with the bearer)`);
      continue;
    }
    c.child = await start(c.key, c.file, { BENCH_UPSTREAM: upstream.ready.url, ...c.env, ...(c.oidc ? { BENCH_OIDC_ISSUER: provider.ready.issuer, BENCH_PORT: String(c.port) } : {}) });
    if (c.child.ready.bearer) await ask(upstream, 'accept', { bearer: c.child.ready.bearer });
    await sanityCheck(c.key, c.child, benchPath);
    console.log(`${c.key} ${c.label}: ${c.child.ready.url} (checked: 200 with the cookie, 401 without)`);
  }
  await measure(live);
} finally {
  await stopAll();
  clearWatchdog();
}
if (args.cluster !== 'off') {
  // Its own process, watchdog and defaults: the flags above are for the contenders of this file.
  const cluster = spawnSync(process.execPath, [resolve(import.meta.dirname, 'cluster.mjs')], { stdio: 'inherit' });
  if (cluster.status !== 0) process.exitCode = 1;
}
if (args.websocket !== 'off') {
  // WebSocket messages through Gatehouse and directly (issue 14 item 7), with its own defaults.
  const websocket = spawnSync(process.execPath, [resolve(import.meta.dirname, 'websocket.mjs')], { stdio: 'inherit' });
  if (websocket.status !== 0) process.exitCode = 1;
}

/**
 * The provider of GL and GU, which must know their callback URLs before they start: their ports
 * are chosen here. Null when neither runs.
 */
async function startProvider(oidcContenders) {
  if (oidcContenders.length === 0) return null;
  for (const c of oidcContenders) c.port = await freePort();
  const redirects = oidcContenders.map((c) => `http://127.0.0.1:${c.port}/auth/oidc/callback/corp`).join(',');
  const provider = await start('OIDC provider', 'http-layer/oidc-provider.mjs', { BENCH_REDIRECT_URIS: redirects });
  console.log(`OIDC provider ${provider.ready.issuer} (access tokens live an hour: no refresh during the run)`);
  return provider;
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
  const order = keys.join(' ');
  console.log(`\nwarm-up ${warmup} s each, then ${rounds} rounds of ${order} / ${[...keys].reverse().join(' ')} alternately, wrk -t1 -c${connections} -d${duration}s`);
  for (const c of contenders) await load(c.child, { path: pathOf(c), seconds: warmup, connections });

  const results = Object.fromEntries(keys.map((key) => [key, []]));
  const ruleChecks = [];
  for (let r = 0; r < rounds; r++) {
    // U A E N G0 G3, then G3 G0 N E A U: G0 and G3 always run back to back (their ratio is the
    // headline), and each contender runs as often early in a round as late.
    const roundOrder = r % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of roundOrder) {
      const since = c.key === 'G3' ? (await ask(c.child, 'clock')).now : null;
      const result = await load(c.child, { path: pathOf(c), seconds: duration, connections });
      results[c.key].push(result);
      let note = '';
      if (since !== null) {
        const { hits } = await ask(c.child, 'rule-hits', { since });
        ruleChecks.push(checkHits(hits, result));
        note = `  rule hits/req ${Object.entries(hits).map(([name, n]) => `${name} ${(n / result.requests).toFixed(3)}`).join(', ')}${ruleChecks.at(-1).ok ? '' : '  !! not every request was counted'}`;
      }
      console.log(`round ${r + 1} ${c.key.padEnd(2)}: ${fmt(result.rps, 0)} req/s  p50 ${ms(result.p50Us)}  p99 ${ms(result.p99Us)}  cpu ${fmt(result.cpuUsPerReq, 1)} µs/req  rss ${mib(result.rssBytes)}${problems(result)}${note}`);
    }
  }

  const table = contenders.map((c) => summarise(c, results[c.key], results.A, results.N));
  const pairs = [['E', 'A'], ['N', 'A'], ['G0', 'A'], ['G3', 'A'], ['A', 'N'], ['E', 'N'], ['G0', 'N'], ['G3', 'N'], ['G3', 'G0'], ['GL', 'G0'], ['GU', 'A'], ['GU', 'GL']];
  const ratios = pairs.filter(([x, y]) => has(x) && has(y)).map(([x, y]) => ({
    name: `${x}/${y}`,
    throughput: pairedRatio(results[x], results[y]),
    cpu: pairedRatio(results[x], results[y], (run) => run.cpuUsPerReq),
  }));
  const ruleCostUs = has('G3') && has('G0') ? median(results.G3.map((run, i) => run.cpuUsPerReq - results.G0[i].cpuUsPerReq)) : null;
  const meta = {
    ...machine(),
    wrk: `wrk -t1 -c${connections} -d${duration}s --latency on 127.0.0.1, ${warmup} s warm-up each, ${rounds} interleaved rounds (${order} / reversed, alternately)`,
    path: benchPath,
    body,
    bodyBytes: contenders.find((c) => c.upstream)?.child.ready.bodyBytes ?? null,
    nginx: hasNginx ? nginxVersion() : null,
    skipped,
    rules: activeRules(),
  };

  console.log(`\n${meta.date}  node ${meta.node}  ${meta.cpus}  kernel ${meta.kernel}${meta.nginx ? `  ${meta.nginx}` : ''}\n${meta.wrk}\nresponse body: ${body}\n`);
  console.log(formatTable(table));
  console.log(`\n${formatRatios(ratios)}`);
  for (const note of skipped) console.log(`skipped: ${note}`);
  const headline = ratios.find((r) => r.name === 'G3/G0');
  if (headline) {
    console.log(`\nthree active rate rules: throughput ${headline.throughput.median.toFixed(2)}× of no rules (G3/G0, median of ${rounds} paired rounds, ${headline.throughput.min.toFixed(2)}–${headline.throughput.max.toFixed(2)}); server CPU ${ruleCostUs >= 0 ? '+' : ''}${fmt(ruleCostUs, 1)} µs/req (median per-round difference)`);
    const allCounted = ruleChecks.every((check) => check.ok);
    console.log(`rules evaluated on every request: ${allCounted ? 'yes' : 'NO'} (${requestRules.join(', ')}: hits counted in G3's store ≥ wrk's completed requests in each of ${ruleChecks.length} rounds; liveness variants refused as expected)`);
  }
  const userToken = ratios.find((r) => r.name === 'GU/GL');
  if (userToken) {
    const costUs = median(results.GU.map((run, i) => run.cpuUsPerReq - results.GL[i].cpuUsPerReq));
    console.log(`\nuser token against a static secret: throughput ${userToken.throughput.median.toFixed(2)}× (GU/GL, median of ${rounds} paired rounds, ${userToken.throughput.min.toFixed(2)}–${userToken.throughput.max.toFixed(2)}); server CPU ${costUs >= 0 ? '+' : ''}${fmt(costUs, 1)} µs/req (median per-round difference)`);
  }
  if (args.json) writeFileSync(resolve(String(args.json)), `${JSON.stringify({ meta, live, table, ratios, ruleCostUs, ruleChecks, results }, null, 2)}\n`);
}

function nginxVersion() {
  const run = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return (run.stderr || run.stdout).trim();
}

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * Each request-counting rule holds a hit for every request wrk completed in the round, and at most
 * one per connection more (requests in flight when wrk stopped are counted by the gateway, not by wrk).
 */
function checkHits(hits, result) {
  const ok = requestRules.every((name) => hits[name] >= result.requests && hits[name] <= result.requests + connections);
  return { ok, requests: result.requests, hits };
}

function summarise(c, runs, base, nginx) {
  return {
    key: c.key,
    label: c.label,
    rps: median(runs.map((r) => r.rps)),
    rpsMin: Math.min(...runs.map((r) => r.rps)),
    rpsMax: Math.max(...runs.map((r) => r.rps)),
    p50Us: median(runs.map((r) => r.p50Us)),
    p99Us: median(runs.map((r) => r.p99Us)),
    cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
    rssBytes: median(runs.map((r) => r.rssBytes)),
    vsA: pairedRatio(runs, base).median,
    vsN: nginx ? pairedRatio(runs, nginx).median : null,
    failures: runs.reduce((n, r) => n + failures(r), 0),
  };
}

function formatTable(table) {
  const lines = [
    '| | contender | req/s (median, min–max) | p50 | p99 | server CPU µs/req | RSS | throughput vs A | vs N | failed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of table) {
    lines.push(`| ${row.key} | ${row.label} | ${fmt(row.rps, 0)} (${fmt(row.rpsMin, 0)}–${fmt(row.rpsMax, 0)}) | ${ms(row.p50Us)} | ${ms(row.p99Us)} | ${fmt(row.cpuUsPerReq, 1)} | ${mib(row.rssBytes)} | ${row.vsA.toFixed(2)}× | ${row.vsN === null ? '–' : `${row.vsN.toFixed(2)}×`} | ${row.failures} |`);
  }
  return lines.join('\n');
}

function formatRatios(ratios) {
  const lines = [
    '| ratio | throughput (median of per-round ratios, min–max) | server CPU per request (median, min–max) |',
    '|---|---:|---:|',
  ];
  for (const { name, throughput, cpu } of ratios) {
    const bold = name === 'G3/G0' || name === 'GU/GL' ? '**' : '';
    lines.push(`| ${bold}${name}${bold} | ${bold}${throughput.median.toFixed(2)}×${bold} (${throughput.min.toFixed(2)}–${throughput.max.toFixed(2)}) | ${cpu.median.toFixed(2)}× (${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)}) |`);
  }
  return lines.join('\n');
}
