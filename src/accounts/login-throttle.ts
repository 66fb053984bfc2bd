import { isIP } from 'node:net';
import type { GatewayConfig } from '../config/schema.js';
import type { CounterStore } from '../rules/counter-store.js';
import type { Clock } from '../security/clock.js';
import { sha256Hex } from '../security/hash.js';
import { KeyedLock } from './keyed-lock.js';

export type LoginSettings = GatewayConfig['login'];

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** A throttle that a failure switched on: the account entered back-off, or the address reached its cap. */
export interface ThrottleStart {
  scope: 'account' | 'ip';
  /** Failures counted for the account (or address), this one included. */
  failures: number;
  retryAfterSeconds: number;
}

export interface GuardOptions<T> {
  /**
   * Whether this success forgets the account's failures (default: yes). A password accepted for an
   * account that still owes a second factor must not: else logging in again between code guesses
   * would keep the back-off from ever starting, and a thief with the password could search the
   * 10^6 codes at the per-address rate alone.
   */
  resetsFailures?: (value: T) => boolean;
}

/** What became of one guarded attempt. */
export type GuardedAttempt<T> =
  /** Refused before anything was checked: answer 429 `too_many_attempts` with this Retry-After. */
  | { outcome: 'throttled'; retryAfterSeconds: number }
  /** Checked and wrong; counted. `started` lists the throttles this failure switched on (audit each). */
  | { outcome: 'failed'; started: ThrottleStart[] }
  /** Checked and right; the account's failures are forgotten. */
  | { outcome: 'succeeded'; value: T };

export interface LoginThrottleDeps {
  counters: CounterStore;
  clock: Clock;
  settings: LoginSettings;
  /**
   * Most account names, and most client addresses, with an attempt in flight at once (default
   * 10,000 each). Past it an attempt for a new one is refused for a second: load shedding, which
   * reveals nothing about any account.
   */
  maxPendingKeys?: number;
}

/**
 * How long an account's failures are remembered: a sliding window, so after a quiet day the count
 * is back to zero and the next failure starts from scratch. Stretched to twice `maxBackoff` when
 * that is longer, so the failures behind the longest wait still count when it is over.
 */
export const accountMemoryMs = 24 * 60 * 60_000;

/** Names are capped before hashing; longer ones share the count of their first 256 characters. */
const maxAccountLength = 256;

const allowed: ThrottleVerdict = { allowed: true };
const busy = { outcome: 'throttled', retryAfterSeconds: 1 } as const;

/**
 * Login protection (SPEC §5, "Login and MFA attempts"): after `maxFailures` failures for an account
 * each further attempt must wait `backoff`, doubling with every further failure up to `maxBackoff`;
 * `perIp` caps failures from one client across all accounts. A throttled attempt is refused before
 * any password is checked, even the right one, and is not itself counted. A success resets the
 * account (not the address: else an attacker would clear its cap by logging into its own account
 * between guesses). Nothing locks for good: every wait ends, and the failures that caused it are
 * forgotten after `accountMemoryMs` of quiet (OWASP Authentication Cheat Sheet, "Account Lockout";
 * NIST SP 800-63B §5.2.2, rate limiting).
 *
 * Failures count for the account name given, existing or not, and nothing here looks a user up, so
 * the answer for a throttled name is the same whether it exists or not.
 *
 * `guard` is the one entry point for anything that checks a secret for an account: `/auth/login`,
 * `/auth/password` (current password), and the MFA verify endpoint, which calls
 * `guard(userName, ip, () => codeIsRight ? true : null)` so wrong codes count as failures too.
 *
 * Concurrency: `guard` serialises attempts per client address and per account name in this process
 * (address first, then account: one order, so no deadlock), so check → verify → record is one
 * step and a parallel burst cannot overshoot either limit. Across processes (workers sharing the
 * SQLite file, nodes sharing PostgreSQL: Store.throttle) each verb is atomic but the check and the record are not one transaction: N workers can
 * each let one attempt through before any of them records it, so an account can see up to N − 1
 * extra verifications per back-off step and an address up to N − 1 past its cap. The bound stays
 * linear in the worker count, not in the attacker's parallelism.
 *
 * A counter store that fails makes the attempt fail (an exception: 503 `store_unavailable` when
 * PostgreSQL is out, else 500) before any password is checked: fail closed, so breaking the store never buys unthrottled guesses.
 */
export class LoginThrottle {
  readonly #counters: CounterStore;
  readonly #clock: Clock;
  readonly #settings: LoginSettings;
  readonly #accountWindowMs: number;
  readonly #accountLocks: KeyedLock;
  readonly #addressLocks: KeyedLock;

  constructor(deps: LoginThrottleDeps) {
    this.#counters = deps.counters;
    this.#clock = deps.clock;
    this.#settings = deps.settings;
    this.#accountWindowMs = Math.max(accountMemoryMs, 2 * deps.settings.maxBackoff);
    this.#accountLocks = new KeyedLock(deps.maxPendingKeys ?? 10_000);
    this.#addressLocks = new KeyedLock(deps.maxPendingKeys ?? 10_000);
  }

  /** Attempts in flight (running or waiting), by account and by address: for tests and metrics. */
  get pending(): { accounts: number; addresses: number } {
    return { accounts: this.#accountLocks.size, addresses: this.#addressLocks.size };
  }

  /**
   * Checks the throttle, runs `attempt` when allowed, and records its outcome: null is a failure,
   * anything else a success. Serialised per address and per account (see the class comment).
   */
  async guard<T>(account: string, ip: string, attempt: () => Promise<T | null>, options: GuardOptions<T> = {}): Promise<GuardedAttempt<T>> {
    const accountId = accountKey(account);
    const addressId = addressKey(ip);
    const ran = await this.#addressLocks.run(addressId, async () => {
      const inner = await this.#accountLocks.run(accountId, () => this.#attempt(accountId, addressId, attempt, options));
      return inner === 'busy' ? busy : inner.value;
    });
    return ran === 'busy' ? busy : ran.value;
  }

  /** Whether an attempt for `account` from `ip` may be checked now. Not serialised: prefer `guard`. */
  async check(account: string, ip: string): Promise<ThrottleVerdict> {
    return this.#check(accountKey(account), addressKey(ip), this.#clock.now());
  }

  /** Counts a failure for the account and the address; returns the throttles it switched on. Not serialised: prefer `guard`. */
  async recordFailure(account: string, ip: string): Promise<ThrottleStart[]> {
    return this.#recordFailure(accountKey(account), addressKey(ip), this.#clock.now());
  }

  /** Forgets the account's failures (not the address's). */
  async recordSuccess(account: string): Promise<void> {
    await this.#counters.reset(accountKey(account));
  }

  /** The wait after the account's `failures`-th failure: 0 below `maxFailures`, then doubling, capped. */
  backoffAfter(failures: number): number {
    const { maxFailures, backoff, maxBackoff } = this.#settings;
    if (failures < maxFailures) return 0;
    // Capping the exponent keeps the product finite; maxBackoff caps it long before.
    return Math.min(backoff * 2 ** Math.min(failures - maxFailures, 52), maxBackoff);
  }

  async #attempt<T>(accountId: string, addressId: string, attempt: () => Promise<T | null>, options: GuardOptions<T>): Promise<GuardedAttempt<T>> {
    const verdict = await this.#check(accountId, addressId, this.#clock.now());
    if (!verdict.allowed) return { outcome: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds };
    const value = await attempt();
    if (value === null) return { outcome: 'failed', started: await this.#recordFailure(accountId, addressId, this.#clock.now()) };
    if (options.resetsFailures?.(value) ?? true) await this.#counters.reset(accountId);
    return { outcome: 'succeeded', value };
  }

  async #check(accountId: string, addressId: string, now: number): Promise<ThrottleVerdict> {
    const { perIp } = this.#settings;
    const [blockedUntil, recent] = await Promise.all([
      this.#counters.blockedUntil(accountId, now),
      this.#counters.count(addressId, now, perIp.per, perIp.max),
    ]);
    let waitMs = blockedUntil === null ? 0 : blockedUntil - now;
    // SPEC §5: at the cap, refused "until its oldest counted failure leaves the window" (counted
    // in buckets of per/60: until the bucket that holds it has left, counter-store.ts).
    if (recent.retryAt !== null) waitMs = Math.max(waitMs, recent.retryAt - now);
    return waitMs > 0 ? { allowed: false, retryAfterSeconds: wholeSeconds(waitMs) } : allowed;
  }

  async #recordFailure(accountId: string, addressId: string, now: number): Promise<ThrottleStart[]> {
    const { maxFailures, perIp } = this.#settings;
    const [failures, fromAddress] = await Promise.all([
      this.#counters.add(accountId, now, this.#accountWindowMs),
      this.#counters.add(addressId, now, perIp.per),
    ]);
    const started: ThrottleStart[] = [];
    const waitMs = this.backoffAfter(failures);
    if (waitMs > 0) await this.#counters.block(accountId, now + waitMs);
    // Exactly one failure sees each count (`add` is atomic), so each start is reported once.
    if (failures === maxFailures) started.push({ scope: 'account', failures, retryAfterSeconds: wholeSeconds(waitMs) });
    if (fromAddress === perIp.max) {
      const { retryAt } = await this.#counters.count(addressId, now, perIp.per, perIp.max);
      started.push({ scope: 'ip', failures: fromAddress, retryAfterSeconds: wholeSeconds((retryAt ?? now) - now) });
    }
    return started;
  }
}

/** SPEC §5: Retry-After in whole seconds, rounded up. */
function wholeSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * The counter key of an account name: NFKC, then lower case (NFKC again, as lower-casing can undo
 * it), capped, then hashed. `Alice`, `ALICE` and full-width `ａｌｉｃｅ` share one count. Only
 * ASCII names can exist (account-service.ts), so folding too much merely merges names that could
 * never log in. Hashed so that keys are short and what was typed as a user name (often a password
 * in the wrong field) is never stored; prefixed so no other counter user can collide.
 */
export function accountKey(name: string): string {
  const folded = name.slice(0, 4 * maxAccountLength).normalize('NFKC').toLowerCase().normalize('NFKC').slice(0, maxAccountLength);
  return `login:acct:${sha256Hex(folded)}`;
}

/**
 * The counter key of a client address. An IPv6 client gets a whole /64 (RFC 4291 §2.5.4: the
 * interface identifier is the low 64 bits; hosts pick new ones at will, RFC 8981), so counting
 * single IPv6 addresses would give one client 2^64 caps.
 */
export function addressKey(ip: string): string {
  return `login:ip:${isIP(ip) === 6 ? ipv6Slash64(ip) : ip}`;
}

/** `2001:db8:0:1::/64` for any address in it; the input is a valid IPv6 address. */
function ipv6Slash64(ip: string): string {
  let text = ip.split('%')[0]!;
  // A trailing dotted quad (::ffff:…, 64:ff9b::…) is the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
