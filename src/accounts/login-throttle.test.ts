import { beforeEach, describe, expect, test } from 'vitest';
import type { CounterStore } from '../rules/counter-store.js';
import { windowBuckets } from '../rules/bucket-window.js';
import { MemoryCounterStore } from '../rules/memory-counter-store.js';
import { ManualClock } from '../security/clock.js';
import { accountKey, accountMemoryMs, addressKey, LoginThrottle, type LoginSettings } from './login-throttle.js';

const minute = 60_000;
const defaults: LoginSettings = { maxFailures: 5, backoff: 1000, maxBackoff: 15 * minute, perIp: { max: 20, per: 5 * minute } };
/** Per-address cap out of the way, for tests about the account back-off. */
const roomyIp = { max: 10_000, per: 5 * minute };
const ip = '203.0.113.7';

let clock: ManualClock;
let counters: MemoryCounterStore;
/** How many times a guarded check actually ran (what would have reached the hasher). */
let checks: number;

beforeEach(() => {
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  counters = new MemoryCounterStore();
  checks = 0;
});

function throttleWith(settings: Partial<LoginSettings> = {}, extra: { counters?: CounterStore; maxPendingKeys?: number } = {}): LoginThrottle {
  return new LoginThrottle({ counters: extra.counters ?? counters, clock, settings: { ...defaults, ...settings }, ...(extra.maxPendingKeys ? { maxPendingKeys: extra.maxPendingKeys } : {}) });
}

const wrong = async (): Promise<null> => {
  checks += 1;
  return null;
};
const right = async (): Promise<string> => {
  checks += 1;
  return 'ok';
};
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LoginThrottle: per-account back-off', () => {
  test('maxFailures failures are checked; then each attempt waits 1 s, 2 s, 4 s, 8 s … capped at maxBackoff', async () => {
    const throttle = throttleWith({ maxBackoff: 10_000, perIp: roomyIp });
    for (let i = 0; i < 5; i += 1) expect((await throttle.guard('alice', ip, wrong)).outcome).toBe('failed');
    expect(checks).toBe(5);
    for (const wait of [1, 2, 4, 8, 10, 10, 10]) {
      // Even the right password is refused, and not checked (SPEC §5).
      expect(await throttle.guard('alice', ip, right)).toEqual({ outcome: 'throttled', retryAfterSeconds: wait });
      clock.advance(wait * 1000 - 1);
      expect(await throttle.guard('alice', ip, right)).toEqual({ outcome: 'throttled', retryAfterSeconds: 1 });
      clock.advance(1);
      expect((await throttle.guard('alice', ip, wrong)).outcome).toBe('failed');
    }
    expect(checks).toBe(5 + 7);
  });

  test('backoffAfter: nothing before maxFailures, then doubling, capped, finite for any count', () => {
    const throttle = throttleWith();
    expect([1, 4, 5, 6, 7, 14, 15, 16, 1_000_000].map((n) => throttle.backoffAfter(n))).toEqual([0, 0, 1000, 2000, 4000, 512_000, 900_000, 900_000, 900_000]);
  });

  test('Retry-After is whole seconds, rounded up', async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    for (let i = 0; i < 6; i += 1) {
      await throttle.guard('alice', ip, wrong);
      if (i === 4) clock.advance(1000);
    }
    // The sixth failure started a 2 s wait.
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 2 });
    clock.advance(1);
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 2 });
    clock.advance(999);
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(999);
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1);
    expect(await throttle.check('alice', ip)).toEqual({ allowed: true });
  });

  test('throttled attempts are neither checked nor counted', async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    for (let i = 0; i < 5; i += 1) await throttle.guard('alice', ip, wrong);
    for (let i = 0; i < 100; i += 1) expect((await throttle.guard('alice', ip, wrong)).outcome).toBe('throttled');
    expect(checks).toBe(5);
    clock.advance(1000);
    await throttle.guard('alice', ip, wrong);
    // The 6th failure, not the 106th: 2 s.
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 2 });
  });

  test('a success resets the account: the back-off starts from scratch', async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    for (let i = 0; i < 5; i += 1) await throttle.guard('alice', ip, wrong);
    clock.advance(1000);
    expect(await throttle.guard('alice', ip, right)).toEqual({ outcome: 'succeeded', value: 'ok' });
    for (let i = 0; i < 4; i += 1) expect((await throttle.guard('alice', ip, wrong)).outcome).toBe('failed');
    expect(await throttle.check('alice', ip)).toEqual({ allowed: true });
    await throttle.guard('alice', ip, wrong);
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  test('never a permanent lock: after 200 failures the wait is still maxBackoff, and then the right password works', async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    for (let i = 0; i < 200; i += 1) {
      expect((await throttle.guard('alice', ip, wrong)).outcome).toBe('failed');
      const verdict = await throttle.check('alice', ip);
      if (!verdict.allowed) {
        expect(verdict.retryAfterSeconds).toBeLessThanOrEqual(15 * 60);
        clock.advance(verdict.retryAfterSeconds * 1000);
      }
    }
    expect(await throttle.guard('alice', ip, right)).toEqual({ outcome: 'succeeded', value: 'ok' });
  });

  test(`failures are forgotten after ${accountMemoryMs / 3_600_000} h of quiet (and at most one bucket, 24 min, more), not before`, async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    for (let i = 0; i < 4; i += 1) await throttle.guard('alice', ip, wrong);
    clock.advance(accountMemoryMs - 1);
    await throttle.guard('alice', ip, wrong);
    expect((await throttle.check('alice', ip)).allowed).toBe(false);

    for (let i = 0; i < 4; i += 1) await throttle.guard('bob', ip, wrong);
    // Counted in buckets of 1/60 of the window (rules/bucket-window.ts): bob's are the last
    // millisecond of one, so they are kept a whole bucket longer than an exact window would.
    clock.advance(accountMemoryMs + accountMemoryMs / windowBuckets);
    for (let i = 0; i < 4; i += 1) expect((await throttle.guard('bob', ip, wrong)).outcome).toBe('failed');
    expect(await throttle.check('bob', ip)).toEqual({ allowed: true });
  });

  test('with a maxBackoff over half a day, failures are remembered twice that long', async () => {
    const throttle = throttleWith({ backoff: 2 * 86_400_000, maxBackoff: 2 * 86_400_000, perIp: roomyIp });
    for (let i = 0; i < 5; i += 1) await throttle.guard('alice', ip, wrong);
    clock.advance(2 * 86_400_000);
    await throttle.guard('alice', ip, wrong);
    // Six failures still in memory: the wait is the capped maxBackoff again, not a fresh count.
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 2 * 86_400 });
  });

  test('an unknown name is counted exactly like an existing one (the throttle never looks a user up)', async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    const trace = async (name: string): Promise<unknown[]> => {
      const seen: unknown[] = [];
      for (let i = 0; i < 8; i += 1) seen.push(await throttle.guard(name, ip, wrong), await throttle.check(name, ip));
      return seen;
    };
    expect(await trace('no-such-user')).toEqual(await trace('alice'));
  });

  test('Alice, ALICE and full-width ａｌｉｃｅ share one count; other names do not', async () => {
    const throttle = throttleWith({ perIp: roomyIp });
    for (const name of ['Alice', 'ALICE', 'ａｌｉｃｅ', 'alice', 'aLiCe']) await throttle.guard(name, ip, wrong);
    expect((await throttle.check('alice', ip)).allowed).toBe(false);
    expect((await throttle.check('alicia', ip)).allowed).toBe(true);
  });
});

describe('LoginThrottle: per-address cap', () => {
  test('20 failures across 20 names: every attempt from that address is refused, whatever the name, until its oldest failure leaves the window', async () => {
    const throttle = throttleWith();
    const start = clock.now();
    for (let i = 0; i < 20; i += 1) {
      expect((await throttle.guard(`user-${i}`, ip, wrong)).outcome).toBe('failed');
      clock.advance(1000);
    }
    // Now start + 20 s. The window counts in buckets of 5 s (1/60 of 5 min): the oldest failure
    // (at start, with the next four) leaves it when its bucket does, at start + 305 s.
    expect(await throttle.guard('someone-new', ip, right)).toEqual({ outcome: 'throttled', retryAfterSeconds: 285 });
    expect(await throttle.guard('user-0', ip, right)).toEqual({ outcome: 'throttled', retryAfterSeconds: 285 });
    expect(await throttle.guard('someone-new', '198.51.100.1', right)).toEqual({ outcome: 'succeeded', value: 'ok' });
    clock.set(start + 5 * minute + 5_000 - 1);
    expect(await throttle.check('x', ip)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.set(start + 5 * minute + 5_000);
    // Five slots free (the bucket held five failures): five more, and the cap is back until the
    // next bucket (start + 5 s to 10 s) leaves, at start + 310 s.
    for (let i = 0; i < 5; i += 1) expect((await throttle.guard(`x-${i}`, ip, wrong)).outcome).toBe('failed');
    expect(await throttle.check('y', ip)).toEqual({ allowed: false, retryAfterSeconds: 5 });
    expect(checks).toBe(26);
  });

  test('a success from the address does not clear its failures', async () => {
    const throttle = throttleWith();
    for (let i = 0; i < 19; i += 1) await throttle.guard(`user-${i}`, ip, wrong);
    await throttle.guard('mine', ip, right);
    await throttle.guard('user-19', ip, wrong);
    expect((await throttle.check('mine', ip)).allowed).toBe(false);
  });

  test('when both apply, Retry-After is the longer wait', async () => {
    const throttle = throttleWith({ perIp: { max: 5, per: 10_000 } });
    for (let i = 0; i < 5; i += 1) await throttle.guard('alice', ip, wrong);
    // The account waits 1 s, the address 10 s and the rest of the failures' bucket (1/60 of 10 s): 11.
    expect(await throttle.check('alice', ip)).toEqual({ allowed: false, retryAfterSeconds: 11 });
    expect(await throttle.check('alice', '198.51.100.1')).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  test('IPv6 clients are counted per /64', async () => {
    const throttle = throttleWith({ perIp: { max: 2, per: minute } });
    await throttle.guard('a', '2001:db8:0:7::1', wrong);
    await throttle.guard('b', '2001:db8:0:7:aaaa:bbbb:cccc:dddd', wrong);
    expect((await throttle.check('c', '2001:db8:0:7::ffff')).allowed).toBe(false);
    expect((await throttle.check('c', '2001:db8:0:8::1')).allowed).toBe(true);
  });
});

describe('LoginThrottle: what a failure started (for the audit trail)', () => {
  test('the account start is reported once, on the maxFailures-th failure; the address start once, at the cap', async () => {
    const throttle = throttleWith({ perIp: { max: 7, per: minute } });
    const reports: unknown[] = [];
    for (let i = 0; i < 7; i += 1) {
      reports.push(await throttle.recordFailure('alice', ip));
      clock.advance(1000);
    }
    expect(reports).toEqual([
      [], [], [], [],
      [{ scope: 'account', failures: 5, retryAfterSeconds: 1 }],
      [],
      // The oldest failure is 6 s old, its bucket (1 s, 1/60 of the minute) leaves in 55 s.
      [{ scope: 'ip', failures: 7, retryAfterSeconds: 55 }],
    ]);
  });
});

describe('LoginThrottle: concurrency', () => {
  const slowWrong = async (): Promise<null> => {
    checks += 1;
    await tick();
    return null;
  };

  test('a parallel burst at one account from many addresses: exactly maxFailures attempts are checked', async () => {
    const throttle = throttleWith();
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => throttle.guard('alice', `198.51.100.${i}`, slowWrong)));
    expect(checks).toBe(5);
    expect(outcomes.filter((o) => o.outcome === 'throttled')).toHaveLength(45);
    expect(throttle.pending).toEqual({ accounts: 0, addresses: 0 });
  });

  test('a parallel burst of different names from one address: exactly perIp.max attempts are checked', async () => {
    const throttle = throttleWith();
    await Promise.all(Array.from({ length: 50 }, (_, i) => throttle.guard(`user-${i}`, ip, slowWrong)));
    expect(checks).toBe(20);
  });

  test('control: the unserialised check / recordFailure let the same burst through (why guard exists)', async () => {
    const throttle = throttleWith();
    await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      if (!(await throttle.check('alice', `198.51.100.${i}`)).allowed) return;
      await slowWrong();
      await throttle.recordFailure('alice', `198.51.100.${i}`);
    }));
    expect(checks).toBeGreaterThan(5);
  });

  test('past maxPendingKeys, an attempt for a new account is refused for a second without being checked', async () => {
    const throttle = throttleWith({}, { maxPendingKeys: 1 });
    let release!: () => void;
    const held = throttle.guard('alice', ip, () => new Promise<null>((resolve) => {
      release = () => resolve(null);
    }));
    await tick();
    expect(await throttle.guard('bob', '198.51.100.1', right)).toEqual({ outcome: 'throttled', retryAfterSeconds: 1 });
    expect(checks).toBe(0);
    release();
    await held;
    expect(await throttle.guard('bob', '198.51.100.1', right)).toEqual({ outcome: 'succeeded', value: 'ok' });
  });

  test('a failing counter store fails the attempt before anything is checked (fail closed)', async () => {
    const broken: CounterStore = new Proxy(counters, {
      get(target, name, receiver) {
        if (name === 'count') return async () => {
          throw new Error('database is locked');
        };
        const value = Reflect.get(target, name, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const throttle = throttleWith({}, { counters: broken });
    await expect(throttle.guard('alice', ip, right)).rejects.toThrow('database is locked');
    expect(checks).toBe(0);
    expect(throttle.pending).toEqual({ accounts: 0, addresses: 0 });
  });
});

describe('counter keys', () => {
  test('account keys are prefixed hashes of the folded name, capped in length, and never contain the name', () => {
    const key = accountKey('Alice');
    expect(key).toMatch(/^login:acct:[0-9a-f]{64}$/);
    expect(key).toBe(accountKey('alice'));
    expect(key).toBe(accountKey('ＡＬＩＣＥ'));
    expect(key).not.toBe(accountKey('alice2'));
    expect(accountKey(`${'a'.repeat(256)}x`)).toBe(accountKey(`${'a'.repeat(256)}y`));
    expect(accountKey('x'.repeat(1_000_000))).toMatch(/^login:acct:[0-9a-f]{64}$/);
  });

  test('address keys: IPv4 as is, IPv6 as its /64', () => {
    expect(addressKey('192.0.2.1')).toBe('login:ip:192.0.2.1');
    expect(addressKey('2001:db8::1')).toBe('login:ip:2001:db8:0:0::/64');
    expect(addressKey('2001:0DB8:0000:0000:ffff:1:2:3')).toBe('login:ip:2001:db8:0:0::/64');
    expect(addressKey('2001:db8:1:2:3::')).toBe('login:ip:2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('login:ip:0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('login:ip:fe80:0:0:0::/64');
    expect(addressKey('64:ff9b:1:2::192.0.2.1')).toBe('login:ip:64:ff9b:1:2::/64');
  });

  test('the store only ever sees login: keys', async () => {
    const seen = new Set<string>();
    const recording: CounterStore = new Proxy(counters, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (key: string, ...rest: unknown[]) => {
          seen.add(key);
          return (value as (...args: unknown[]) => unknown).call(target, key, ...rest);
        };
      },
    });
    const throttle = throttleWith({ perIp: { max: 3, per: minute } }, { counters: recording });
    for (let i = 0; i < 6; i += 1) await throttle.guard('alice', ip, wrong);
    await throttle.guard('alice', '198.51.100.9', right);
    expect([...seen].every((key) => key.startsWith('login:acct:') || key.startsWith('login:ip:'))).toBe(true);
    expect([...seen].some((key) => key.includes('alice'))).toBe(false);
  });
});
