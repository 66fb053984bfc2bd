// One "worker process" for test/integration/single-flight-processes.test.ts, on the compiled dist/:
// opens the store (SQLite file or PostgreSQL URL), says "ready", waits for "go" on stdin, then fires
// COUNT concurrent SingleFlight runs of one key whose work asks the provider for a token and stores
// it where `fresh` reads it; prints the outcomes as one JSON line and exits.
// Usage: node single-flight-worker.mjs sqlite|postgres LOCATION PROVIDER_URL COUNT [lease|no-lease] [TTL_MS]
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const [engine, location, providerUrl, countArg, mode = 'lease', ttlArg = '10000'] = process.argv.slice(2);
const dist = new URL('../../dist/src/', import.meta.url);
const load = (path) => import(new URL(path, dist).href);

const { SingleFlight } = await load('cluster/single-flight.js');
const { systemClock } = await load('security/clock.js');
const { cryptoRandom } = await load('security/random.js');

let store;
if (engine === 'sqlite') {
  store = (await load('storage/sqlite/open-sqlite-store.js')).openSqliteStore(location);
} else {
  const { openPostgresStore } = await load('storage/postgres/open-postgres-store.js');
  const { silentLogger } = await load('log/logger.js');
  store = await openPostgresStore({ postgres: location, pool: 10, timeout: 10_000 }, { env: {}, logger: silentLogger() });
}

// "no-lease": what a broken implementation would do, every process believing it holds the key.
const noLease = { acquire: async () => true, release: async () => true, fail: async () => true, read: async () => null, purge: async () => 0 };
const flight = new SingleFlight({ leases: mode === 'no-lease' ? noLease : store.leases, clock: systemClock, random: cryptoRandom, ttlMs: Number(ttlArg) });

const key = 'refresh:Abc123def456';
const task = {
  fresh: () => store.meta.get('single-flight-test:token'),
  async work(signal) {
    const response = await fetch(providerUrl, { method: 'POST', signal });
    if (!response.ok) throw Object.assign(new Error('the provider refused'), { code: 'invalid_grant' });
    const { token } = await response.json();
    await store.meta.set('single-flight-test:token', token);
    return token;
  },
};

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
await once(lines, 'line');
const settled = await Promise.allSettled(Array.from({ length: Number(countArg) }, () => flight.run(key, task)));
process.stdout.write(`${JSON.stringify(settled.map((s) => (s.status === 'fulfilled' ? { token: s.value } : { error: s.reason?.code ?? String(s.reason) })))}\n`);
lines.close();
await store.close();
