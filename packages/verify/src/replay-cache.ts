/**
 * Remembers each assertion's `jti` until the assertion could no longer be accepted, so a captured
 * assertion is refused the second time (RFC 9449 §11.1 recommends the same for DPoP proofs).
 *
 * Bounded: at most `maxEntries` ids. Expired ids are dropped first. When every remembered id is
 * still live, a NEW id is refused (`full`) rather than evicting a live one: evicting would reopen
 * replay for exactly the assertion evicted, silently. Refusing fails closed and visibly (503
 * `replay_cache_full`), and since only the gateway can mint valid assertions, the cache fills only
 * under real load above `maxEntries` per assertion lifetime — size it for that.
 */

export type ReplayOutcome = 'fresh' | 'replayed' | 'full';

export interface ReplayCache {
  /**
   * Atomically checks and records `jti` (check-and-set in one call, never get-then-set).
   * `expiresAtMs` is when the assertion stops being acceptable, clock tolerance included.
   */
  consume(jti: string, expiresAtMs: number): ReplayOutcome;
  readonly size: number;
}

export interface ReplayCacheOptions {
  maxEntries: number;
  /** Milliseconds since the epoch. */
  now: () => number;
}

export function createReplayCache(options: ReplayCacheOptions): ReplayCache {
  const { maxEntries, now } = options;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('replayCacheSize must be a positive integer');

  // Insertion order is close to expiry order (every assertion lives ~60 s), so dropping expired
  // entries from the front is amortised O(1); a full sweep runs only when the cache is full and
  // something in it has expired, never once per request while it stays full.
  const entries = new Map<string, number>();
  let earliestExpiry = Infinity;

  function dropExpiredFromFront(at: number): void {
    for (const [jti, expiresAt] of entries) {
      if (expiresAt > at) break;
      entries.delete(jti);
    }
  }

  function sweep(at: number): void {
    earliestExpiry = Infinity;
    for (const [jti, expiresAt] of entries) {
      if (expiresAt <= at) entries.delete(jti);
      else if (expiresAt < earliestExpiry) earliestExpiry = expiresAt;
    }
  }

  return {
    consume(jti, expiresAtMs) {
      const at = now();
      dropExpiredFromFront(at);
      const seen = entries.get(jti);
      if (seen !== undefined && seen > at) return 'replayed';
      if (seen !== undefined) entries.delete(jti);
      if (entries.size >= maxEntries && at >= earliestExpiry) sweep(at);
      if (entries.size >= maxEntries) return 'full';
      entries.set(jti, expiresAtMs);
      if (expiresAtMs < earliestExpiry) earliestExpiry = expiresAtMs;
      return 'fresh';
    },
    get size() {
      return entries.size;
    },
  };
}
