/**
 * `npm run bench:cluster` (and the end of `npm run bench`) — what PostgreSQL and Redis cost one node,
 * and what a second node behind haproxy buys (issue 11 item 8; decision 0006). Two groups, one after
 * the other; in each, two contenders against the same upstream (bench/http-layer/upstream.mjs),
 * loaded by wrk on loopback in interleaved rounds (X Y, Y X, …), compared by medians of per-round
 * ratios. Every contender runs the full pipeline of `gatehouse serve`: the session cookie, the CSRF
 * header, the three rate rules of bench/lib/rules.mjs (all evaluated, none triggering) and the
 * proxied GET with the upstream's bearer token.
 *   store    S  one node on SQLite, loaded directly (bench/http-layer/server-gatehouse-serve.mjs),
 *            P  the same node on PostgreSQL + Redis (BENCH_STORE=postgres): ratio P/S;
 *   cluster  H1 haproxy + one node, H2 haproxy + two nodes, both the cluster example
 *            (examples/cluster/start.mjs through bench/http-layer/server-cluster.mjs): ratio H2/H1.
 * Server CPU per request sums the Gatehouse processes (and haproxy in the cluster group), not
 * PostgreSQL's or Redis's. Asserts nothing about speed: the machine is noisy, and on one machine
 * of two cores the nodes, haproxy, PostgreSQL, Redis, the upstream and wrk all share those cores.
 *
 *   npm run bench:cluster -- [--rounds 4] [--duration 3] [--warmup 2] [--connections 50] [--only store,cluster]
 *                            [--rules off]
 * `--rules off`: no rate rules, to see what the rules' store round trips cost (decision 0006).
 */
import { benchPath } from './lib/child.mjs';
import { activeRules } from './lib/rules.mjs';
import {
  ask, fmt, load, machine, median, ms, numberArg, pairedRatio, parseArgs, preflight, problems, sanityCheck, start,
  startWatchdog, stop, stopAll,
} from './lib/harness.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 4, 1);
const duration = numberArg(args, 'duration', 3, 1);
const warmup = numberArg(args, 'warmup', 2, 1);
const connections = numberArg(args, 'connections', 50, 1);
const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : null;
const limits = JSON.stringify(args.rules === 'off' ? [] : activeRules());
// The cluster example routes /api/weather/** to its upstream, stripping /api/weather.
const clusterPath = benchPath.replace(/^\/api/, '/api/weather');

const groups = [
  {
    name: 'store',
    ratio: ['P', 'S'],
    contenders: [
      { key: 'S', label: 'one node, SQLite (serve, direct)', file: 'http-layer/server-gatehouse-serve.mjs', env: { BENCH_STORE: 'sqlite' }, path: benchPath },
      { key: 'P', label: 'one node, PostgreSQL + Redis (serve, direct)', file: 'http-layer/server-gatehouse-serve.mjs', env: { BENCH_STORE: 'postgres' }, path: benchPath },
    ],
  },
  {
    name: 'cluster',
    ratio: ['H2', 'H1'],
    contenders: [
      { key: 'H1', label: 'haproxy + one node (PostgreSQL + Redis)', file: 'http-layer/server-cluster.mjs', env: { BENCH_NODES: '1' }, path: clusterPath },
      { key: 'H2', label: 'haproxy + two nodes (PostgreSQL + Redis)', file: 'http-layer/server-cluster.mjs', env: { BENCH_NODES: '2' }, path: clusterPath },
    ],
  },
].filter((g) => !only || only.has(g.name));

const budgetS = 120 + groups.length * (60 + 2 * (warmup + rounds * (duration + 3)));
const clearWatchdog = startWatchdog(budgetS);
const meta = machine();
console.log(`\ncluster benchmark: ${meta.date}  node ${meta.node}  ${meta.cpus}\nwrk -t1 -c${connections} -d${duration}s, ${warmup} s warm-up each, ${rounds} interleaved rounds; ${args.rules === 'off' ? 'no rate rules' : 'three active rate rules everywhere'}`);
try {
  preflight({ build: true });
  const upstream = await start('upstream', 'http-layer/upstream.mjs');
  for (const group of groups) {
    for (const c of group.contenders) {
      c.child = await start(c.key, c.file, { BENCH_UPSTREAM: upstream.ready.url, BENCH_LIMITS: limits, ...c.env }, [], { readyS: 120 });
      await sanityCheck(c.key, c.child, c.path);
      console.log(`${c.key} ${c.label}: ${c.child.ready.url} (checked: 200 with the cookie, 401 without)`);
    }
    for (const c of group.contenders) await load(c.child, { path: c.path, seconds: warmup, connections });
    const results = Object.fromEntries(group.contenders.map((c) => [c.key, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? group.contenders : [...group.contenders].reverse();
      for (const c of order) {
        const counted = c.key === 'P' ? await ask(c.child, 'engine-counts') : null;
        const result = await load(c.child, { path: c.path, seconds: duration, connections });
        let note = '';
        if (counted) {
          const after = await ask(c.child, 'engine-counts');
          // Each count includes its own query (one transaction, one INFO); idle traffic (the revocation
          // log read every 250 ms) is left in: a few per second against thousands of requests.
          result.storePerRequest = {
            transactions: (after.transactions - counted.transactions - 1) / result.requests,
            commands: (after.commands - counted.commands - 1) / result.requests,
            scripts: (after.scripts - counted.scripts) / result.requests,
          };
          note = `  PostgreSQL transactions/req ${result.storePerRequest.transactions.toFixed(2)}, Redis commands/req ${result.storePerRequest.commands.toFixed(2)} (script calls ${result.storePerRequest.scripts.toFixed(2)})`;
        }
        results[c.key].push(result);
        console.log(`${group.name} round ${r + 1} ${c.key.padEnd(2)}: ${fmt(result.rps, 0)} req/s  p50 ${ms(result.p50Us)}  p99 ${ms(result.p99Us)}  cpu ${fmt(result.cpuUsPerReq, 1)} µs/req${problems(result)}${note}`);
      }
    }
    await Promise.all(group.contenders.map((c) => stop(c.child)));
    report(group, results);
  }
} finally {
  await stopAll();
  clearWatchdog();
}

function report(group, results) {
  console.log(`\n| ${group.name} | contender | req/s (median, min–max) | p50 | p99 | Gatehouse${group.name === 'cluster' ? ' + haproxy' : ''} CPU µs/req |`);
  console.log('|---|---|---:|---:|---:|---:|');
  for (const c of group.contenders) {
    const runs = results[c.key];
    const rps = runs.map((run) => run.rps);
    console.log(`| ${c.key} | ${c.label} | ${fmt(median(rps), 0)} (${fmt(Math.min(...rps), 0)}–${fmt(Math.max(...rps), 0)}) | ${ms(median(runs.map((run) => run.p50Us)))} | ${ms(median(runs.map((run) => run.p99Us)))} | ${fmt(median(runs.map((run) => run.cpuUsPerReq)), 1)} |`);
  }
  const [x, y] = group.ratio;
  const throughput = pairedRatio(results[x], results[y]);
  const cpu = pairedRatio(results[x], results[y], (run) => run.cpuUsPerReq);
  const store = results.P?.filter((run) => run.storePerRequest).map((run) => run.storePerRequest);
  if (store?.length) console.log(`\nP's store traffic per proxied request (median of rounds): ${median(store.map((s) => s.transactions)).toFixed(2)} PostgreSQL transactions, ${median(store.map((s) => s.commands)).toFixed(2)} Redis commands (those its scripts run and the background alive calls included), ${median(store.map((s) => s.scripts)).toFixed(2)} Redis script calls`);
  console.log(`\n**${x}/${y}**: throughput ${throughput.median.toFixed(2)}× (${throughput.min.toFixed(2)}–${throughput.max.toFixed(2)}), CPU per request ${cpu.median.toFixed(2)}× (${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)}); medians of ${rounds} paired rounds on a shared machine: indicative only\n`);
}
