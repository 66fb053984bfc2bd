/** One bucket of a Prometheus histogram: observations at or below `le` (cumulative), `le` Infinity for +Inf. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The q-quantile of a histogram's cumulative buckets, as Prometheus' histogram_quantile() computes
 * it: find the bucket the rank q·total falls in and interpolate linearly between its bounds (the
 * first bucket's lower bound is 0). A rank in the +Inf bucket answers the highest finite bound,
 * since nothing is known above it. No observations: null. The answer is an estimate, exact only to
 * a bucket's width.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0 || sorted.at(-1)!.le !== Infinity) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [i, bucket] of sorted.entries()) {
    if (bucket.count >= rank && bucket.count > below) {
      if (bucket.le === Infinity) return i > 0 ? sorted[i - 1]!.le : null;
      return lower + (bucket.le - lower) * ((rank - below) / (bucket.count - below));
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return sorted.length > 1 ? sorted.at(-2)!.le : null;
}

/** Bucket by bucket, `now` minus `before` (both cumulative, same bounds): the observations between two samples. */
export function bucketDelta(now: readonly Bucket[], before: readonly Bucket[]): Bucket[] {
  const earlier = new Map(before.map((b) => [b.le, b.count]));
  // A counter only goes down when the process restarted: count from zero then, as Prometheus' rate() does.
  const reset = now.some((b) => b.count < (earlier.get(b.le) ?? 0));
  return now.map((b) => ({ le: b.le, count: reset ? b.count : b.count - (earlier.get(b.le) ?? 0) }));
}
