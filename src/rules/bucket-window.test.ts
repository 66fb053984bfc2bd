import { describe, expect, test } from 'vitest';
import { BucketWindow, windowBuckets, windowFor } from './bucket-window.js';

/** A deterministic generator (a linear congruential one), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A take on the window alone, as the stores do it: read, and record only when allowed. */
function take(window: BucketWindow, now: number, max: number): { allowed: boolean; retryAt: number | null } {
  if (window.countAt(now) >= max) return { allowed: false, retryAt: window.retryAt(max, now) };
  window.advance(now);
  window.record();
  return { allowed: true, retryAt: null };
}

describe('BucketWindow', () => {
  // The contract suite uses a window of whole 100 ms buckets; these do not divide by 60, and the
  // last is shorter than a bucket per millisecond.
  test.each([1_000, 1_001, 59_999, 7])('never more than max in any window of %i ms, at most one bucket early, retryAt exact', (windowMs) => {
    const random = prng(windowMs);
    const window = new BucketWindow(windowMs);
    const bucketMs = windowMs / windowBuckets;
    const max = 4;
    const allowed: number[] = [];
    const inWindow = (from: number, to: number): number => allowed.filter((t) => t > from && t <= to).length;
    let now = 1_767_225_600_000;
    for (let step = 0; step < 5_000; step += 1) {
      now += Math.floor(random() * random() * windowMs * 0.6);
      const result = take(window, now, max);
      if (inWindow(now - windowMs, now) >= max) expect(result.allowed).toBe(false);
      if (inWindow(now - windowMs - bucketMs, now) < max) expect(result.allowed).toBe(true);
      if (result.allowed) {
        allowed.push(now);
      } else {
        // Exact: the millisecond before retryAt still counts max, retryAt counts fewer.
        expect(window.countAt(result.retryAt! - 1)).toBeGreaterThanOrEqual(max);
        expect(window.countAt(result.retryAt!)).toBeLessThan(max);
      }
    }
    expect(allowed.length).toBeGreaterThan(100);
  });

  test('bucketOf and startOf agree: startOf(b) is the first whole millisecond in bucket b or later', () => {
    for (const windowMs of [7, 1_000, 1_001, 86_400_000]) {
      const window = new BucketWindow(windowMs);
      for (const bucket of [0, 1, 59, 60, 61, 123_456_789]) {
        // In bucket b itself when buckets are at least 1 ms long; a 7 ms window's are shorter, and
        // most of them hold no whole millisecond.
        if (windowMs >= windowBuckets) expect(window.bucketOf(window.startOf(bucket))).toBe(bucket);
        else expect(window.bucketOf(window.startOf(bucket))).toBeGreaterThanOrEqual(bucket);
        expect(window.bucketOf(window.startOf(bucket) - 1)).toBeLessThan(bucket);
      }
    }
  });

  test('holds at most 61 pairs, however many buckets have had hits', () => {
    const window = new BucketWindow(60_000);
    for (let second = 0; second < 600; second += 1) {
      window.advance(second * 1_000);
      window.record();
    }
    expect(window.bytes).toBe((windowBuckets + 1) * 16);
    expect([...window.entries()].map(([bucket]) => bucket)).toEqual(Array.from({ length: 61 }, (_, i) => 539 + i));
  });

  test('restore keeps only the pairs a window of its head can hold', () => {
    const window = BucketWindow.restore(60_000, 100, [[30, 5], [39, 1], [40, 2], [100, 3]]);
    expect([...window.entries()]).toEqual([[40, 2], [100, 3]]);
    expect(window.countAt(100_000)).toBe(5);
  });

  test('a changed length carries every counted hit into the new window, leaving the old one as it was', () => {
    const old = BucketWindow.restore(60_000, 100, [[50, 2], [100, 3]]);
    const carried = windowFor(old, 30_000, 100_500);
    expect(carried.windowMs).toBe(30_000);
    expect(carried.countAt(100_500)).toBe(5);
    expect([...carried.entries()]).toEqual([[carried.bucketOf(100_500), 5]]);
    expect([...old.entries()]).toEqual([[50, 2], [100, 3]]);
    expect(windowFor(old, 60_000, 100_500)).toBe(old);
  });
});
