/**
 * The read every proxied request makes, SessionStore.getWithUser (a session joined with its user),
 * on the PostgreSQL adapter against the SQLite one, through the compiled stores (dist/), in one
 * process, interleaved round by round so the noisy machine's drift hits both alike:
 *
 *   sqlite        the SQLite store as served: a temp file, reads reused while nothing changed
 *   sqlite fresh  the same file through a store opened for the round, each session read once: every
 *                 read a query (the cost of a session the store has not seen yet)
 *   postgres      one read at a time (the latency a request adds), on a pool of 10
 *   postgres x16  16 reads in flight (a node under load), per read
 *
 * Each round reads `--reads` times over 1,000 stored sessions, in a random order. Reported: time per
 * read, median over rounds, and the ratio to SQLite per round (docs/decisions/0004-postgres-store.md).
 * Bounded: rounds × reads, every case stops after 10 s, the whole run after 120 s.
 *
 *   node bench/store-session-read.mjs --postgres postgres://USER@127.0.0.1:PORT/EMPTY_DB [--rounds 5] [--reads 3000]
 *
 * The database must be empty (it is migrated and filled); nothing else on it is touched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dist, median, numberArg, parseArgs } from './lib/harness.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 5, 1);
const reads = numberArg(args, 'reads', 3_000, 100);
const url = typeof args.postgres === 'string' ? args.postgres : process.env.GATEHOUSE_BENCH_POSTGRES;
if (!url) {
  console.error('bench: --postgres URL (an empty database) is required');
  process.exit(2);
}
const CASE_LIMIT_MS = 10_000;
const SESSIONS = 1_000;
setTimeout(() => {
  console.error('bench: the run took longer than 120 s; stopped');
  process.exit(1);
}, 120_000).unref();

const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { openSqliteStore } = await load('src/storage/sqlite/open-sqlite-store.js');
const { openPostgresStore } = await load('src/storage/postgres/open-postgres-store.js');
const { silentLogger } = await load('src/log/logger.js');

const idHash = (n) => n.toString(16).padStart(64, '0');
async function fill(store) {
  for (let u = 0; u < 100; u++) {
    await store.users.create({ name: `user-${u}`, roles: ['user'], passwordHash: '$argon2id$x', locked: false, passwordResetRequired: false, mfaEnabled: false, createdAt: 1, lastLoginAt: null });
  }
  for (let s = 0; s < SESSIONS; s++) {
    await store.sessions.create({
      idHash: idHash(s), handle: `h${s}`, userName: `user-${s % 100}`, createdAt: 1, lastSeenAt: 1, expiresAt: 2 ** 42,
      ip: '192.0.2.1', userAgent: 'bench', passwordResetRequired: false, mfaPending: false, mfaCompleted: false,
    });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-store-'));
const sqlite = openSqliteStore(join(dir, 'gatehouse.db'));
const postgres = await openPostgresStore({ postgres: url, pool: 10, timeout: 2_000 }, { env: {}, logger: silentLogger() });
try {
  await fill(sqlite);
  await fill(postgres);
  const order = Array.from({ length: reads }, () => idHash(Math.floor(Math.random() * SESSIONS)));

  const distinct = Array.from({ length: SESSIONS }, (_, i) => idHash(i));

  /** Microseconds per read with `inFlight` reads outstanding. */
  async function measure(store, inFlight, ids = order) {
    const started = performance.now();
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < ids.length && performance.now() - started < CASE_LIMIT_MS) {
        const found = await store.sessions.getWithUser(ids[next++]);
        if (!found?.user) throw new Error('bench: a stored session was not found');
        done++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return ((performance.now() - started) * 1_000) / done;
  }

  const fresh = async () => {
    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    try {
      return await measure(store, 1, distinct);
    } finally {
      store.close();
    }
  };
  const cases = [
    ['sqlite', () => measure(sqlite, 1)],
    ['sqlite fresh', fresh],
    ['postgres', () => measure(postgres, 1)],
    ['postgres x16', () => measure(postgres, 16)],
  ];
  for (const [, run] of cases) await run(); // warm-up: prepared statements, pool, page cache
  const results = Object.fromEntries(cases.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of cases) results[name].push(await run());
  }
  console.log(`getWithUser, ${reads} reads × ${rounds} rounds over ${SESSIONS} sessions (µs per read, median; ratio to sqlite paired per round)`);
  for (const [name] of cases) {
    const ratios = results[name].map((us, i) => us / results.sqlite[i]);
    console.log(`  ${name.padEnd(13)} ${median(results[name]).toFixed(1).padStart(8)} µs   × ${median(ratios).toFixed(1)}`);
  }
} finally {
  sqlite.close();
  await postgres.close();
  rmSync(dir, { recursive: true, force: true });
}
