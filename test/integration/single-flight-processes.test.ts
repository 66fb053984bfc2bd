import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/cluster/single-flight.js';
import { silentLogger } from '../../src/log/logger.js';
import { systemClock } from '../../src/security/clock.js';
import { cryptoRandom } from '../../src/security/random.js';
import { openPostgresStore } from '../../src/storage/postgres/open-postgres-store.js';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { StoreUnavailableError } from '../../src/storage/store-unavailable-error.js';
import { usePostgres } from '../helpers/postgres.js';
import { poll } from '../helpers/processes.js';

/**
 * SPEC §9 / issue 13 item 6: a burst of parallel refreshes of one session, spread over real worker
 * processes on one SQLite file and over two "nodes" on one PostgreSQL database, reaches the provider
 * exactly once, and every caller gets the one new token. The provider is a real HTTP server on
 * 127.0.0.1 that counts; it answers slowly so that the callers pile up behind the first.
 * The workers run the compiled dist/ (test/helpers/single-flight-worker.mjs): `npm run build` first.
 */
const worker = resolve(import.meta.dirname, '../helpers/single-flight-worker.mjs');
const perProcess = 25;

let provider: Server;
let providerUrl: string;
let refreshes = 0;
/** The provider answers 400 (as for invalid_grant, RFC 6749 §5.2) instead of a token. */
let refusing = false;
/** The provider never answers its first request (a refresh in flight when its process dies). */
let hangFirst = false;
/** When each refresh reached the provider (Date.now()). */
let arrivals: number[] = [];

beforeAll(async () => {
  provider = createServer((request, response) => {
    refreshes += 1;
    arrivals.push(Date.now());
    if (hangFirst && refreshes === 1) return;
    const token = `token-${refreshes}`;
    const [status, body] = refusing ? [400, { error: 'invalid_grant' }] : [200, { token }];
    setTimeout(() => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)), 150);
  });
  await new Promise<void>((done) => provider.listen(0, '127.0.0.1', done));
  providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/token`;
});
afterAll(async () => {
  // The hung request of the killed-worker case is still open.
  provider.closeAllConnections();
  await new Promise((done) => provider.close(done));
});
beforeEach(() => {
  refreshes = 0;
  refusing = false;
  hangFirst = false;
  arrivals = [];
});

interface Worker {
  child: ChildProcessWithoutNullStreams;
  output: Promise<string>;
}

function startWorker(args: string[]): Promise<Worker> {
  const child = spawn(process.execPath, [worker, ...args], { env: { PATH: process.env.PATH } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((ready, failed) => {
    const output = new Promise<string>((done, broke) => {
      child.on('exit', (code) => (code === 0 ? done(stdout) : broke(new Error(`worker exited ${code}: ${stderr}`))));
    });
    output.catch(failed);
    child.stdout.on('data', (chunk: Buffer) => {
      const before = stdout;
      stdout += chunk.toString();
      if (!before.includes('ready\n') && stdout.includes('ready\n')) ready({ child, output });
    });
  });
}

/** Starts one worker per args list, lets them all go at once, and returns every caller's outcome. */
async function burst(argsPerWorker: string[][]): Promise<unknown[]> {
  const workers = await Promise.all(argsPerWorker.map(startWorker));
  for (const w of workers) w.child.stdin.write('go\n');
  const outputs = await Promise.all(workers.map((w) => w.output));
  return outputs.flatMap((out) => JSON.parse(out.slice(out.indexOf('ready\n') + 'ready\n'.length)) as unknown[]);
}

describe('single flight across worker processes on one SQLite file', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-single-flight-'));
    file = join(dir, 'gatehouse.db');
    await openSqliteStore(file).close();
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(`3 processes × ${perProcess} concurrent refreshes: the provider counts exactly one, all 75 get its token`, async () => {
    const outcomes = await burst([0, 1, 2].map(() => ['sqlite', file, providerUrl, String(perProcess)]));
    expect(refreshes).toBe(1);
    expect(outcomes).toEqual(Array(3 * perProcess).fill({ token: 'token-1' }));
  }, 30_000);

  it('the provider refuses the one refresh: every caller in every process gets invalid_grant, none tries again', async () => {
    refusing = true;
    const outcomes = await burst([0, 1, 2].map(() => ['sqlite', file, providerUrl, String(perProcess)]));
    expect(refreshes).toBe(1);
    expect(outcomes).toEqual(Array(3 * perProcess).fill({ error: 'invalid_grant' }));
  }, 30_000);

  it('a worker killed in the middle of the refresh: another process takes over once the lease TTL has passed', async () => {
    hangFirst = true;
    const ttl = '1000';
    const doomed = await startWorker(['sqlite', file, providerUrl, String(perProcess), 'lease', ttl]);
    doomed.child.stdin.write('go\n');
    await poll(async () => expect(refreshes).toBe(1));
    doomed.child.kill('SIGKILL');
    await doomed.output.catch(() => undefined);
    const outcomes = await burst([['sqlite', file, providerUrl, String(perProcess), 'lease', ttl]]);
    // The survivor waited for the dead holder's lease to run out (not before: the dead one's
    // refresh might have reached the provider), then refreshed once.
    expect(refreshes).toBe(2);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(900);
    expect(outcomes).toEqual(Array(perProcess).fill({ token: 'token-2' }));
  }, 30_000);

  it('the same burst with the lease skipped reaches the provider more than once (the test above can fail)', async () => {
    const outcomes = await burst([0, 1, 2].map(() => ['sqlite', file, providerUrl, String(perProcess), 'no-lease']));
    expect(outcomes).toHaveLength(3 * perProcess);
    expect(refreshes).toBeGreaterThan(1);
  }, 30_000);
});

describe('single flight across two nodes on one PostgreSQL database', () => {
  const postgres = usePostgres();
  let url: string;

  beforeAll(async () => {
    url = await postgres.server.createDatabase();
    // Migrated once here, so the workers' own opens find the schema in place.
    await (await open()).close();
  });

  function open(timeout = 10_000): ReturnType<typeof openPostgresStore> {
    return openPostgresStore({ postgres: url, pool: 10, timeout }, { env: {}, logger: silentLogger() });
  }

  it(`2 processes × ${perProcess} concurrent refreshes: the provider counts exactly one, all 50 get its token`, async () => {
    await clearToken();
    const outcomes = await burst([0, 1].map(() => ['postgres', url, providerUrl, String(perProcess)]));
    expect(refreshes).toBe(1);
    expect(outcomes).toEqual(Array(2 * perProcess).fill({ token: 'token-1' }));
  }, 30_000);

  it('the same burst with the lease skipped reaches the provider more than once', async () => {
    await clearToken();
    const outcomes = await burst([0, 1].map(() => ['postgres', url, providerUrl, String(perProcess), 'no-lease']));
    expect(outcomes).toHaveLength(2 * perProcess);
    expect(refreshes).toBeGreaterThan(1);
  }, 30_000);

  it('PostgreSQL down: run rejects with StoreUnavailableError (callers answer 503), and works once it is back', async () => {
    await clearToken();
    const store = await open(500);
    try {
      const flight = new SingleFlight({ leases: store.leases, clock: systemClock, random: cryptoRandom, ttlMs: 10_000 });
      let calls = 0;
      const task = {
        fresh: async () => null,
        async work() {
          calls += 1;
          return 'token';
        },
      };
      await postgres.server.stop();
      try {
        await expect(flight.run('refresh:Abc123def456', task)).rejects.toBeInstanceOf(StoreUnavailableError);
      } finally {
        await postgres.server.start();
      }
      expect(calls).toBe(0);
      expect(await flight.run('refresh:Abc123def456', task)).toBe('token');
    } finally {
      await store.close();
    }
  }, 60_000);

  async function clearToken(): Promise<void> {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("DELETE FROM meta WHERE key = 'single-flight-test:token'");
      await client.query('DELETE FROM leases');
    } finally {
      await client.end();
    }
  }
});
