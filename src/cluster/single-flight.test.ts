import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { until } from '../storage/contract/node-channel.contract.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { StoreUnavailableError } from '../storage/store-unavailable-error.js';
import { SharedFailureError, SingleFlight, SingleFlightTimeoutError, type SingleFlightOptions, type SingleFlightTask } from './single-flight.js';

/** The caller's own failure class, which waiters must see again (SPEC §9: invalid_grant ends the session). */
class RefreshError extends Error {
  constructor(readonly code: string) {
    super(`refresh failed (${code})`);
  }
}

const ttlMs = 10_000;
const key = 'refresh:Abc123def456';

/**
 * SingleFlight over a real SQLite file opened twice (two "processes"), with a clock the tests move.
 * The work stands for a refresh at the provider: it counts its calls, takes a little real time (so
 * callers pile up behind it) and stores its result in the file, where `fresh` reads it.
 */
describe('SingleFlight', () => {
  let dir: string;
  let file: string;
  let stores: [Store, Store];
  let clock: ManualClock;
  let calls: number;
  let polls: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-single-flight-'));
    file = join(dir, 'gatehouse.db');
    stores = [openSqliteStore(file), openSqliteStore(file)];
    clock = new ManualClock();
    calls = 0;
    polls = 0;
  });
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** `count` SingleFlights, as if in `count` processes, alternating between the file's two connections. */
  function flights(count: number, options: Partial<SingleFlightOptions> = {}): SingleFlight[] {
    return Array.from({ length: count }, (_, i) => new SingleFlight({
      leases: stores[i % 2]!.leases,
      clock,
      random: cryptoRandom,
      ttlMs,
      sleep: (ms) => {
        polls += 1;
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
      failureError: (code) => new RefreshError(code),
      ...options,
    }));
  }

  function task(store: Store, work: () => Promise<void> = async () => {}): SingleFlightTask<string> {
    return {
      fresh: () => store.meta.get('token'),
      async work() {
        calls += 1;
        const n = calls;
        await new Promise((resolve) => setTimeout(resolve, 40));
        await work();
        await store.meta.set('token', `token-${n}`);
        return `token-${n}`;
      },
    };
  }

  function runAll(all: SingleFlight[], perFlight: number, work?: () => Promise<void>): Promise<PromiseSettledResult<string>[]> {
    return Promise.allSettled(all.flatMap((flight, i) => Array.from({ length: perFlight }, () => flight.run(key, task(stores[i % 2]!, work)))));
  }

  it('50 concurrent callers in one process share one attempt: one acquire, one work, all 50 get its result', async () => {
    const leases = stores[0].leases;
    let acquires = 0;
    const [flight] = flights(1, {
      leases: {
        acquire: (...args) => {
          acquires += 1;
          return leases.acquire(...args);
        },
        release: (...args) => leases.release(...args),
        fail: (...args) => leases.fail(...args),
        read: (...args) => leases.read(...args),
        purge: (...args) => leases.purge(...args),
      },
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => flight!.run(key, task(stores[0]))));
    expect(calls).toBe(1);
    expect(acquires).toBe(1);
    expect(new Set(results)).toEqual(new Set(['token-1']));
  });

  it('50 concurrent callers spread over 10 instances on two connections: the work runs once and all get its result', async () => {
    const settled = await runAll(flights(10), 5);
    expect(calls).toBe(1);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason))).toEqual(Array(50).fill('token-1'));
    // Released: nothing is left held.
    expect(await stores[1].leases.read(key, clock.now())).toBeNull();
  });

  it('a caller that finds a fresh result does no work and takes no lease', async () => {
    await stores[0].meta.set('token', 'token-0');
    await stores[1].leases.acquire(key, 'someone', ttlMs, clock.now());
    const [flight] = flights(1);
    expect(await flight!.run(key, task(stores[0]))).toBe('token-0');
    expect(calls).toBe(0);
  });

  it('a holder that died holding the lease: the others wait, and one takes over once its TTL has passed', async () => {
    expect(await stores[0].leases.acquire(key, 'died', ttlMs, clock.now())).toBe(true);
    const running = runAll(flights(10), 5);
    await until(() => polls >= 40, 'the waiters poll');
    expect(calls).toBe(0);
    clock.advance(ttlMs - 1);
    await until(() => polls >= 80, 'the waiters keep polling');
    expect(calls).toBe(0);
    clock.advance(1);
    const settled = await running;
    expect(calls).toBe(1);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason))).toEqual(Array(50).fill('token-1'));
  });

  it("the holder's work fails: all 50 callers reject with its failure class, nobody retries until the hold ends, then one does", async () => {
    const all = flights(10, { failureHoldMs: 1_000 });
    const settled = await runAll(all, 5, async () => {
      throw new RefreshError('invalid_grant');
    });
    expect(calls).toBe(1);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      const reason = (s as PromiseRejectedResult).reason as RefreshError;
      expect(reason).toBeInstanceOf(RefreshError);
      expect(reason.code).toBe('invalid_grant');
    }
    // A newcomer inside the hold gets the outcome too, without a call.
    await expect(all[3]!.run(key, task(stores[1]))).rejects.toMatchObject({ code: 'invalid_grant' });
    expect(calls).toBe(1);
    clock.advance(1_000);
    expect(await all[3]!.run(key, task(stores[1]))).toBe('token-2');
    expect(calls).toBe(2);
  });

  it('without failureError, waiters reject with SharedFailureError carrying the code; an error with no code is work_failed', async () => {
    const all = flights(4, { failureError: undefined });
    const settled = await runAll(all, 3, async () => {
      throw new Error('socket hang up');
    });
    expect(calls).toBe(1);
    const reasons = settled.map((s) => (s as PromiseRejectedResult).reason as Error);
    // The holder's own callers get its error; the others, the shared one.
    expect(reasons.filter((r) => r.message === 'socket hang up')).toHaveLength(3);
    expect(reasons.filter((r) => r instanceof SharedFailureError && r.code === 'work_failed')).toHaveLength(9);
  });

  it('a failure the caller marks as safe to retry frees the key at once: the next caller does the work', async () => {
    const [first, second] = flights(2, { failureCode: () => null });
    let refuse = true;
    await expect(first!.run(key, task(stores[0], async () => {
      if (refuse) throw new RefreshError('connection_refused');
    }))).rejects.toBeInstanceOf(RefreshError);
    expect(await stores[1].leases.read(key, clock.now())).toBeNull();
    refuse = false;
    expect(await second!.run(key, task(stores[1]))).toBe('token-2');
  });

  it("a holder whose clock runs ahead: a waiter gives up after TTL and margin on its own clock rather than take over", async () => {
    const ahead = new ManualClock(clock.now() + 60_000);
    expect(await stores[0].leases.acquire(key, 'ahead', ttlMs, ahead.now())).toBe(true);
    const [flight] = flights(1);
    const waiting = flight!.run(key, task(stores[1]));
    const outcome = waiting.catch((error: unknown) => error);
    await until(() => polls >= 3, 'the waiter polls');
    clock.advance(ttlMs + 1_001);
    expect(await outcome).toBeInstanceOf(SingleFlightTimeoutError);
    expect(calls).toBe(0);
  });

  it("the file's write lock held by another process past busy_timeout: run rejects with StoreUnavailableError, and no work is done", async () => {
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      const [flight] = flights(1);
      await expect(flight!.run(key, task(stores[0]))).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(calls).toBe(0);
  }, 20_000);

  it("the work is told to stop before its lease's TTL, so a slow holder does not overlap a takeover", async () => {
    const [flight] = flights(1, { ttlMs: 500, failureHoldMs: 200 });
    let aborted = false;
    const outcome = flight!.run(key, {
      fresh: () => stores[0].meta.get('token'),
      work: (signal) => new Promise<string>((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(Object.assign(new Error('aborted'), { code: 'idp_unavailable' }));
        });
      }),
    });
    await expect(outcome).rejects.toMatchObject({ code: 'idp_unavailable' });
    expect(aborted).toBe(true);
    // Recorded as a failure (waiters share it), not left to expire.
    expect(await stores[1].leases.read(key, clock.now())).toMatchObject({ failure: 'idp_unavailable' });
  });

  it('refuses a TTL out of bounds and a failure hold too short for waiters to see', () => {
    expect(() => flights(1, { ttlMs: 0 })).toThrow(RangeError);
    expect(() => flights(1, { ttlMs: 10 * 60_000 })).toThrow(RangeError);
    expect(() => flights(1, { failureHoldMs: 50 })).toThrow(RangeError);
  });
});
