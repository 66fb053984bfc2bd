/**
 * The three CounterStore engines on the same bounded loop of `take`s, in one process and one run,
 * so they can be compared as ratios (docs/decisions/0005-redis-counters.md): MemoryCounterStore
 * (one node), SqliteCounterStore (workers on one machine; a temp file, WAL) and RedisCounterStore
 * (several nodes; a redis-server this script starts on 127.0.0.1, a free port, no persistence, and
 * stops). Each case runs `--ops` takes one at a time over 100 keys, the clock advancing 0.25 ms per
 * take (4,000 takes/s: every bucket of the 1-minute windows holds hits, so each take reads and
 * writes a full 61-bucket window), max never reached; Redis also with 64 takes in flight (a node
 * under load pipelines them on its one connection). Rounds interleave the engines (order reversed
 * every round). Reported per take: wall time and this process's CPU time, medians over rounds, and
 * Redis round trips (commands sent by the store, counted on the client, and EVALSHA calls counted
 * by the server: INFO commandstats). Bounded: rounds × ops, each case stops after 20 s, the whole
 * run after 300 s.
 *
 *   npm run build && node bench/counter-stores.mjs [--rounds 5] [--ops 20000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dist, fmt, machine, median, numberArg, parseArgs } from './lib/harness.mjs';
import { startBenchRedis } from './lib/redis-server.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 5, 1);
const ops = numberArg(args, 'ops', 20_000, 100);
const KEYS = 100;
const IN_FLIGHT = 64;
const WINDOW_MS = 60_000;
const MAX = 1_000_000_000;
const CASE_LIMIT_MS = 20_000;

if (spawnSync('redis-server', ['--version']).error) {
  console.error('bench: redis-server is not installed (as root: apt-get install -y redis-server)');
  process.exit(1);
}
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { MemoryCounterStore } = await load('src/rules/memory-counter-store.js');
const { openSqliteStore } = await load('src/storage/sqlite/open-sqlite-store.js');
const { RedisCounterStore } = await load('src/storage/redis/redis-counter-store.js');
const { createRedisClient } = await load('src/storage/redis/create-redis-client.js');

const { url } = await startBenchRedis('counters');
// The SQLite contender's file.
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-counters-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const client = createRedisClient({ url, timeoutMs: 1_000 });
for (let attempt = 0; ; attempt++) {
  try {
    await client.connect();
    break;
  } catch (error) {
    if (attempt > 100) throw error;
    await new Promise((r) => setTimeout(r, 20));
  }
}
let sent = 0;
const counting = { sendCommand: (command) => ((sent += 1), client.sendCommand(command)) };
const sqlite = openSqliteStore(join(dir, 'counters.db'));
const redisStore = new RedisCounterStore({ client: counting, prefix: 'gh:bench:' });
await redisStore.load();

const memory = new MemoryCounterStore();
const engines = { memory, sqlite: sqlite.counters, redis: redisStore };

// Warm-up: every key gets a hit in each of its 61 buckets, so every timed take works on a full
// window (the steady state of a busy key), not on one still filling up.
// Each engine has its own clock, moved only by its own takes, so its windows stay full while the
// others run.
const clocks = {};
for (const [name, store] of Object.entries(engines)) {
  let now = Date.now();
  for (let bucket = 0; bucket <= 60; bucket++) {
    for (let key = 0; key < KEYS; key++) await store.take(`rule:bench:${key}`, now, WINDOW_MS, MAX);
    now += WINDOW_MS / 60;
  }
  clocks[name] = now;
}
/** `ops` takes, `inFlight` at a time; µs of wall and CPU per take, and the round trips per take. */
async function runCase(name, inFlight) {
  const store = engines[name];
  let now = clocks[name];
  const sentBefore = sent;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + CASE_LIMIT_MS;
  let done = 0;
  while (done < ops && performance.now() < deadline) {
    const batch = Math.min(inFlight, ops - done);
    const calls = [];
    for (let i = 0; i < batch; i++) {
      now += 0.25;
      calls.push(store.take(`rule:bench:${(done + i) % KEYS}`, Math.floor(now), WINDOW_MS, MAX));
    }
    for (const result of await Promise.all(calls)) if (!result.allowed) throw new Error('bench: a take was refused');
    done += batch;
  }
  clocks[name] = now;
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallUs: (wall * 1000) / done, cpuUs: (used.user + used.system) / done, trips: (sent - sentBefore) / done, done };
}

const cases = [['memory', 1], ['sqlite', 1], ['redis', 1], ['redis', IN_FLIGHT]];
const results = new Map(cases.map(([name, n]) => [`${name}×${n}`, []]));
await client.sendCommand(['CONFIG', 'RESETSTAT']);
let redisTakes = 0;
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [...cases].reverse() : cases;
  for (const [name, inFlight] of order) {
    const result = await runCase(name, inFlight);
    if (name === 'redis') redisTakes += result.done;
    results.get(`${name}×${inFlight}`).push(result);
  }
}
const stats = await client.sendCommand(['INFO', 'commandstats']);
// What one busy key holds (every bucket of its window has hits): Redis's MEMORY USAGE of the key
// (the value, the key and their allocations), the SQLite row's columns, the memory store's ring.
const busy = 'rule:bench:0';
const redisBytes = await client.sendCommand(['MEMORY', 'USAGE', redisStore.counterKey(busy)]);
const redisValue = await client.sendCommand(['STRLEN', redisStore.counterKey(busy)]);
const { default: Database } = await import('better-sqlite3');
const peek = new Database(join(dir, 'counters.db'), { readonly: true });
const sqliteBytes = peek.prepare('SELECT length(key) + length(counts) + 24 FROM counter_windows WHERE key = ?').pluck().get(busy);
peek.close();
const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
const evalshaCalls = Number(evalsha?.[1] ?? 0);
const evalshaUs = Number(evalsha?.[2] ?? 0);

console.log(JSON.stringify(machine()));
console.log(`${rounds} rounds × ${ops} takes per case, ${KEYS} keys, a 1-minute window, 4,000 takes/s of the injected clock`);
console.log('| engine | in flight | wall µs/take | CPU µs/take | round trips/take |');
console.log('|---|---:|---:|---:|---:|');
const medianOf = (key, field) => median(results.get(key).map((r) => r[field]));
for (const [name, inFlight] of cases) {
  const key = `${name}×${inFlight}`;
  const trips = name === 'redis' ? fmt(medianOf(key, 'trips'), 2) : '–';
  console.log(`| ${name} | ${inFlight} | ${fmt(medianOf(key, 'wallUs'), 1)} | ${fmt(medianOf(key, 'cpuUs'), 1)} | ${trips} |`);
}
/** Ratios paired per round, then the median: drift on the machine hits both sides of a ratio alike. */
const ratio = (a, b, field) => median(results.get(a).map((r, i) => r[field] / results.get(b)[i][field]));
console.log('');
for (const [a, b] of [['redis×1', 'memory×1'], ['redis×1', 'sqlite×1'], ['sqlite×1', 'memory×1'], ['redis×64', 'redis×1']]) {
  console.log(`${a} ÷ ${b}: wall ${fmt(ratio(a, b, 'wallUs'), 2)}×, CPU ${fmt(ratio(a, b, 'cpuUs'), 2)}×`);
}
console.log(`A busy key: Redis ${redisBytes} bytes (MEMORY USAGE; the value ${redisValue}), SQLite ${sqliteBytes} bytes of columns, memory ${memory.countBytes(busy)} bytes of counts`);
console.log(`Redis server: ${evalshaCalls} EVALSHA for ${redisTakes} takes (${fmt(evalshaCalls / redisTakes, 2)} per take), ${fmt(evalshaUs / evalshaCalls, 1)} µs of its CPU each (INFO commandstats)`);

client.destroy();
await sqlite.close();
// The redis-server child keeps the event loop alive: exit, which stops it (the 'exit' handler).
process.exit(0);
