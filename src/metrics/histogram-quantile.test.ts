import { describe, expect, it } from 'vitest';
import { bucketDelta, histogramQuantile } from './histogram-quantile.js';

const cumulative = (pairs: [number, number][]) => pairs.map(([le, count]) => ({ le, count }));

describe('histogramQuantile', () => {
  it('interpolates within the bucket the rank falls in, as histogram_quantile does', () => {
    // 10 observations: 2 up to 0.1 s, 6 more up to 0.5 s, 2 more up to 1 s.
    const buckets = cumulative([[0.1, 2], [0.5, 8], [1, 10], [Infinity, 10]]);
    // p50: rank 5, in (0.1, 0.5] holding ranks 3..8: 0.1 + 0.4 · (5 − 2) / 6 = 0.3.
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.3, 10);
    // p99: rank 9.9, in (0.5, 1]: 0.5 + 0.5 · (9.9 − 8) / 2 = 0.975.
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(0.975, 10);
    // The first bucket's lower bound is 0: p10 (rank 1) is half way to 0.1.
    expect(histogramQuantile(0.1, buckets)).toBeCloseTo(0.05, 10);
  });

  it('answers the highest finite bound for a rank in +Inf, and null without observations', () => {
    expect(histogramQuantile(0.99, cumulative([[0.1, 1], [1, 1], [Infinity, 5]]))).toBe(1);
    expect(histogramQuantile(0.5, cumulative([[0.1, 0], [1, 0], [Infinity, 0]]))).toBeNull();
  });

  it('skips empty buckets below the rank', () => {
    // All 4 observations in (0.5, 1]: p50 is 0.75, not a bound of an empty bucket.
    expect(histogramQuantile(0.5, cumulative([[0.1, 0], [0.5, 0], [1, 4], [Infinity, 4]]))).toBeCloseTo(0.75, 10);
  });
});

describe('bucketDelta', () => {
  it('subtracts bucket by bucket; after a reset counts from zero', () => {
    const before = cumulative([[0.1, 2], [1, 3], [Infinity, 3]]);
    const now = cumulative([[0.1, 2], [1, 7], [Infinity, 8]]);
    expect(bucketDelta(now, before)).toEqual(cumulative([[0.1, 0], [1, 4], [Infinity, 5]]));
    expect(bucketDelta(before, now)).toEqual(before);
  });
});
