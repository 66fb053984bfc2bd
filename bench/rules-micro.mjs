/**
 * The rate rules alone, in process: what G3's three rules (bench/lib/rules.mjs) cost per request
 * when nothing else runs, to put a number on what `npm run bench` cannot resolve end to end (a few
 * µs among ~300 µs of CPU per request on a noisy machine). Per simulated request it does what the
 * pipeline does (src/http/pipeline.ts): the early address-block lookup, `check`, and `observe` of a
 * 200, against the in-memory counter store a single node uses and the SQLite block store (on an
 * in-memory database here, so the file's locks are not counted) behind the BlockMemory a single
 * process puts in front of it (`--blocks sqlite`: the store alone), with the clock advancing 0.25 ms
 * per request (4,000 req/s, so the 1m windows count ~240,000 hits as in the end-to-end run).
 *
 *   node bench/rules-micro.mjs [--requests 200000] [--rounds 5] [--blocks memory|sqlite]
 *
 * Loads the compiled tree (GATEHOUSE_DIST or dist/) and its internal classes: RateRules,
 * MemoryCounterStore and SqliteBlockStore are wired here as src/app/create-gateway.ts wires them, so
 * a change to their constructors needs a change here. Bounded: rounds × requests, no I/O.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dist, fmt, median, numberArg, parseArgs } from './lib/harness.mjs';
import { activeRules } from './lib/rules.mjs';

const args = parseArgs(process.argv.slice(2));
const requests = numberArg(args, 'requests', 200_000, 1_000);
const rounds = numberArg(args, 'rounds', 5, 1);
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { RateRules } = await load('src/rules/rate-rules.js');
const { MemoryCounterStore } = await load('src/rules/memory-counter-store.js');
const { parseConfig } = await load('src/config/load.js');
const { openDatabase } = await load('src/storage/sqlite/open-database.js');
const { migrate } = await load('src/storage/sqlite/migrations.js');
const { SqliteBlockStore } = await load('src/storage/sqlite/sqlite-block-store.js');
const { BlockMemory } = await load('src/rules/block-memory.js');
const blocksKind = String(args.blocks ?? 'memory');
if (blocksKind !== 'memory' && blocksKind !== 'sqlite') {
  console.error(`rules-micro: --blocks takes memory or sqlite, not ${JSON.stringify(args.blocks)}`);
  process.exit(2);
}

const { limits } = parseConfig({ store: { sqlite: ':memory:' }, limits: activeRules() }, process.cwd());
let now = Date.now();
const counters = new MemoryCounterStore();
const db = openDatabase(':memory:');
migrate(db);
// How a single SQLite process wires the blocks since issue 12 (app/create-gateway.ts): the store
// behind a BlockMemory; `--blocks sqlite` reads the store on every lookup, as several workers do.
const stored = new SqliteBlockStore(db);
const blocks = blocksKind === 'memory'
  ? new BlockMemory({ store: stored, hearing: () => true, announce: async () => {}, clock: { now: () => now }, logger: { error() {} }, settleMs: 0 })
  : stored;
if (blocksKind === 'memory') await blocks.start();
const rules = new RateRules(limits, {
  counters,
  blocks,
  clock: { now: () => now },
  audit: { recordInBackground() {} },
  revoke: async () => {},
});
// A live session as the session stage leaves it: the id hash is 64 hex digits.
const live = { session: { idHash: 'ab'.repeat(32), handle: 'bench-handle' }, user: { name: 'bench', roles: ['user'] } };

async function round() {
  const started = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    // Timers run between requests, as in a server (the block memory's re-read every 250 ms).
    if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    now += 0.25;
    const subject = { method: 'GET', path: '/api/items', ip: '127.0.0.1', live, requestId: 'r' };
    // Awaited only when a promise comes back, as the pipeline's stage loop does (src/http/server.ts).
    let blocked = rules.blocksByIp ? rules.addressBlocked(subject.ip) : undefined;
    if (blocked instanceof Promise) blocked = await blocked;
    if (blocked) throw new Error('blocked');
    let verdict = rules.check({ method: subject.method, path: subject.path, ip: subject.ip, live: subject.live, requestId: subject.requestId });
    if (verdict instanceof Promise) verdict = await verdict;
    if (verdict.kind !== 'pass') throw new Error(`refused: ${verdict.kind}`);
    if (rules.observesStatus) {
      const counting = rules.observe({ method: subject.method, path: subject.path, ip: subject.ip, live: subject.live, requestId: subject.requestId }, 200);
      if (counting instanceof Promise) await counting;
    }
  }
  return Number(process.hrtime.bigint() - started) / requests / 1000;
}

await round(); // warm-up (JIT, the windows fill)
const perRequest = [];
for (let r = 0; r < rounds; r++) perRequest.push(await round());
if (blocksKind === 'memory') blocks.stop();
console.log(`${limits.length} rate rules in process, blocks ${blocksKind === 'memory' ? 'in memory' : 'read from SQLite'} (${limits.map((l) => l.name).join(', ')}): ${fmt(median(perRequest), 2)} µs per request (median of ${rounds} rounds of ${fmt(requests, 0)}; ${perRequest.map((us) => us.toFixed(2)).join(', ')})`);
