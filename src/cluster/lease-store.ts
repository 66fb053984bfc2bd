/**
 * Short leases on opaque keys, shared by every process and node on one store: the cross-process half
 * of single-flight.ts (one refresh of a session's tokens at a time, SPEC §9). A lease is taken
 * atomically (never get-then-set), held until its holder releases it or its time runs out (a holder
 * that died frees the key after its TTL), and may end as a recorded failure, so that those waiting
 * on it learn the outcome instead of each repeating the work. Times are the caller's clock in
 * milliseconds, passed in, so tests move it; nodes' clocks are assumed to agree within a small
 * fraction of the TTL (decision 0011). Keys are opaque (`refresh:<session handle>`), never a token.
 * Adapters pass storage/contract/lease-store.contract.ts.
 */
export interface LeaseState {
  holder: string;
  /** The code the holder's work failed with (`fail`), or null while the work runs. */
  failure: string | null;
}

export interface LeaseStore {
  /** Takes `key` for `holder` until `now + ttlMs` if it is free or its lease has expired; true when taken. */
  acquire(key: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Frees `key` if `holder` still holds it (a lease taken over after expiry is not the old holder's to free). */
  release(key: string, holder: string): Promise<boolean>;
  /**
   * The holder's work failed with `failure` (a stable code): the lease stays, as that failure, until
   * `now + holdMs`, so waiters read the outcome and newcomers get it too instead of retrying at once.
   */
  fail(key: string, holder: string, failure: string, holdMs: number, now: number): Promise<boolean>;
  /** Who holds `key` at `now`, and whether their work failed; null when it is free (no lease, or expired). */
  read(key: string, now: number): Promise<LeaseState | null>;
  /** Forgets leases expired at `now` (holders that died, failures past their hold); returns how many. */
  purge(now: number): Promise<number>;
}

/** The longest lease: a refresh is one HTTP exchange with a timeout far below this. */
export const maxLeaseTtlMs = 120_000;
const maxKeyLength = 256;
const maxHolderLength = 64;
const maxFailureLength = 64;

/** Refuses what no caller should pass, on every adapter alike (a programming error, not an outcome). */
export function checkLease(key: string, holder: string, ttlMs: number, now: number): void {
  if (key.length === 0 || key.length > maxKeyLength) throw new RangeError(`a lease key is 1 to ${maxKeyLength} characters`);
  if (holder.length === 0 || holder.length > maxHolderLength) throw new RangeError(`a lease holder is 1 to ${maxHolderLength} characters`);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > maxLeaseTtlMs) throw new RangeError(`a lease lasts 1 to ${maxLeaseTtlMs} ms`);
  if (!Number.isSafeInteger(now) || now < 0) throw new RangeError('a lease time is a whole number of milliseconds');
}

/** As checkLease, for a failure code (a short stable code such as `invalid_grant`, never a message). */
export function checkFailure(failure: string): void {
  if (!/^[a-z][a-z0-9_]*$/.test(failure) || failure.length > maxFailureLength) throw new RangeError(`a lease failure is a code of at most ${maxFailureLength} characters ([a-z0-9_])`);
}
