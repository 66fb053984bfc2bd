/**
 * ioredis against node-redis (`@redis/client`, the core of the `redis` package) on the two round trips Gatehouse's Redis adapter will make
 * (issue 11: "ioredis, or node-redis if you measure it better"), against a redis-server this script
 * starts (127.0.0.1, a free port, no persistence) and stops:
 *
 *   pipeline  INCR key + PEXPIRE key ttl NX, sent together (a rate-rule window counter)
 *   evalsha   one EVALSHA of a script doing the same atomically
 *
 * each one at a time (latency) and 64 in flight (a node under load). Both clients run with the
 * settings the adapter needs (no offline queue, a command timeout that also covers commands already
 * sent), RESP3 (both clients' default), in one process, interleaved round by round, so drift on the
 * noisy machine hits both alike. Reported as ratios paired per round (node-redis ÷ ioredis): ops/s,
 * and this process's CPU time per op, the steadier of the two on a shared machine and the one that
 * matters to a gateway whose cost is CPU per request (docs/decisions/0001-http-layer.md). Bounded:
 * rounds × ops, every case stops after 10 s, the whole run after 300 s.
 *
 *   node bench/redis-clients.mjs [--rounds 5] [--ops 5000]
 *
 * node-redis won (docs/decisions/0003-redis-client.md) and is the dependency; ioredis is not: install
 * it for a run with `npm install --no-save ioredis@6.1.0`.
 */
import { spawnSync } from 'node:child_process';
import { createClient } from '@redis/client';
import { machine, median, numberArg, parseArgs } from './lib/harness.mjs';
import { startBenchRedis } from './lib/redis-server.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 5, 1);
const ops = numberArg(args, 'ops', 5_000, 100);
const IN_FLIGHT = 64;
const CASE_LIMIT_MS = 10_000;
const TIMEOUT_MS = 1_000; // generous: a timeout here would be a measurement error, not a result
const TTL_MS = 60_000;

let Redis;
try {
  ({ Redis } = await import('ioredis'));
} catch {
  console.error('bench: ioredis is not installed; run "npm install --no-save ioredis@6.1.0" and this again.');
  process.exit(1);
}
if (spawnSync('redis-server', ['--version']).error) {
  console.error('bench: redis-server is not installed (as root: apt-get install -y redis-server)');
  process.exit(1);
}

const { url } = await startBenchRedis('redis');
const script = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n";

const io = new Redis(url, { enableOfflineQueue: false, commandTimeout: TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: (t) => Math.min(50 * t, 500) });
io.on('error', () => {});
// For reference only (not usable in Gatehouse: a hung server would hold its commands forever): what
// ioredis costs without its per-command timeout timer.
const ioBare = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: (t) => Math.min(50 * t, 500) });
ioBare.on('error', () => {});
const nr = createClient({ url, disableOfflineQueue: true, commandOptions: { timeout: TIMEOUT_MS, rejectInFlight: true } });
nr.on('error', () => {});

for (let tries = 0; ; tries++) {
  try {
    await nr.connect();
    break;
  } catch (error) {
    if (tries > 100) throw error;
    await new Promise((r) => setTimeout(r, 20));
  }
}
while (io.status !== 'ready' || ioBare.status !== 'ready') await new Promise((r) => setTimeout(r, 10));
const sha = await io.script('LOAD', script);

/** Each client's way of making the two round trips; every call uses a fresh key, as new windows do. */
const clients = {
  ioredis: {
    pipeline: (key) => io.pipeline().incr(key).pexpire(key, TTL_MS, 'NX').exec(),
    evalsha: (key) => io.evalsha(sha, 1, key, TTL_MS),
    count: (key) => io.get(key),
  },
  'ioredis, no commandTimeout': {
    pipeline: (key) => ioBare.pipeline().incr(key).pexpire(key, TTL_MS, 'NX').exec(),
    evalsha: (key) => ioBare.evalsha(sha, 1, key, TTL_MS),
    count: (key) => ioBare.get(key),
  },
  'node-redis': {
    pipeline: (key) => nr.multi().incr(key).pExpire(key, TTL_MS, 'NX').execAsPipeline(),
    evalsha: (key) => nr.evalSha(sha, { keys: [key], arguments: [String(TTL_MS)] }),
    count: (key) => nr.get(key),
  },
};

// Same answers from both before any timing: a client that did less would look faster.
for (const [name, c] of Object.entries(clients)) {
  const [key, key2] = [`check:${name}:p`, `check:${name}:e`];
  await c.pipeline(key);
  await c.pipeline(key);
  await c.evalsha(key2);
  if ((await c.count(key)) !== '2' || (await c.count(key2)) !== '1') throw new Error(`${name} did not count as expected`);
}

let serial = 0;
async function runCase(call, inFlight) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let done = 0;
  let next = 0;
  async function lane() {
    while (next < ops && performance.now() - started < CASE_LIMIT_MS) {
      next++;
      await call(`k:${serial++}`);
      done++;
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { opsPerS: (done / ms) * 1000, cpuUsPerOp: (used.user + used.system) / done };
}

const cases = [
  ['pipeline', 1], ['pipeline', IN_FLIGHT],
  ['evalsha', 1], ['evalsha', IN_FLIGHT],
];
const results = {}; // `${name} ${case} ${inFlight}` -> [{opsPerS, cpuUsPerOp}]
const names = Object.keys(clients);

// Warm-up: JIT and connections, not measured.
for (const name of names) for (const [kind, inFlight] of cases) await runCase(clients[name][kind], inFlight);

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? names : [...names].reverse();
  for (const [kind, inFlight] of cases) {
    for (const name of order) {
      const key = `${name} ${kind} ${inFlight}`;
      (results[key] ??= []).push(await runCase(clients[name][kind], inFlight));
    }
  }
  await io.flushdb();
}

const m = machine();
const version = (pkg) => JSON.parse(spawnSync(process.execPath, ['-p', `JSON.stringify(require('${pkg}/package.json').version)`], { encoding: 'utf8' }).stdout);
const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1];
console.log(`redis clients: ioredis ${version('ioredis')}, node-redis ${version('@redis/client')} against redis-server ${redisVersion}; ${rounds} rounds of ${ops} ops per case; ${m.date}, Node ${m.node}, ${m.cpus}`);
// Paired per round: each ratio compares two measurements taken back to back.
const paired = (xs, ys, pick) => {
  const rs = xs.map((x, i) => pick(ys[i]) / pick(x));
  return `${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`;
};
const opsPerS = (r) => r.opsPerS;
const cpuPerOp = (r) => r.cpuUsPerOp;
console.log('| case | in flight | node-redis ÷ ioredis: ops/s | node-redis ÷ ioredis: client CPU per op | ioredis without commandTimeout ÷ ioredis: client CPU per op |');
console.log('|---|---:|---:|---:|---:|');
for (const [kind, inFlight] of cases) {
  const a = results[`ioredis ${kind} ${inFlight}`];
  const b = results[`node-redis ${kind} ${inFlight}`];
  const c = results[`ioredis, no commandTimeout ${kind} ${inFlight}`];
  console.log(`| ${kind} | ${inFlight} | ${paired(a, b, opsPerS)} | **${paired(a, b, cpuPerOp)}** | ${paired(a, c, cpuPerOp)} |`);
}
console.log('(medians over rounds, min–max in brackets; below 1× CPU per op is cheaper than ioredis, above 1× ops/s is faster)');

io.disconnect();
ioBare.disconnect();
await nr.close();
