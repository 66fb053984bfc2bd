import { checkMax, checkWindow } from './bucket-window.js';
import type { CheckResult, CounterCheck, TakeResult, WindowCount } from './counter-store.js';

/** The single-key verbs `evaluate` is made of, as an adapter runs them inside its one atomic step. */
export interface CheckVerbs {
  take(key: string, now: number, windowMs: number, max: number): TakeResult;
  add(key: string, now: number, windowMs: number): number;
  count(key: string, now: number, windowMs: number, max: number): WindowCount;
}

/** `CheckVerbs` awaited, for an adapter whose transaction is a series of queries. */
export interface AsyncCheckVerbs {
  take(key: string, now: number, windowMs: number, max: number): Promise<TakeResult>;
  add(key: string, now: number, windowMs: number): Promise<number>;
  count(key: string, now: number, windowMs: number, max: number): Promise<WindowCount>;
}

/** Validates every check as its own verb would (RangeError), so a bad batch runs nothing. */
export function validateChecks(checks: readonly CounterCheck[]): void {
  for (const check of checks) {
    checkWindow(check.windowMs);
    if (check.verb !== 'add') checkMax(check.max);
  }
}

/**
 * `CounterStore.evaluate` for an adapter whose verbs are synchronous inside one transaction (or
 * in-process): each check in order, stopping after the first refusal.
 */
export function runChecks(checks: readonly CounterCheck[], now: number, verbs: CheckVerbs): CheckResult[] {
  const results: CheckResult[] = [];
  for (const check of checks) {
    const result = outcome(check, now, verbs);
    results.push(result);
    if (!result.allowed) break;
  }
  return results;
}

/** `runChecks` for an adapter whose verbs are awaited inside one transaction. */
export async function runChecksInTurn(checks: readonly CounterCheck[], now: number, verbs: AsyncCheckVerbs): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    let result: CheckResult;
    if (check.verb === 'add') result = { allowed: true, count: await verbs.add(check.key, now, check.windowMs), retryAt: null, first: false };
    else if (check.verb === 'count') result = counted(await verbs.count(check.key, now, check.windowMs, check.max));
    else {
      const taken = await verbs.take(check.key, now, check.windowMs, check.max);
      const first = !taken.allowed && check.marker !== undefined && (await verbs.take(check.marker, now, check.windowMs, 1)).allowed;
      result = { ...taken, first };
    }
    results.push(result);
    if (!result.allowed) break;
  }
  return results;
}

function outcome(check: CounterCheck, now: number, verbs: CheckVerbs): CheckResult {
  if (check.verb === 'add') return { allowed: true, count: verbs.add(check.key, now, check.windowMs), retryAt: null, first: false };
  if (check.verb === 'count') return counted(verbs.count(check.key, now, check.windowMs, check.max));
  const taken = verbs.take(check.key, now, check.windowMs, check.max);
  const first = !taken.allowed && check.marker !== undefined && verbs.take(check.marker, now, check.windowMs, 1).allowed;
  return { allowed: taken.allowed, count: taken.count, retryAt: taken.retryAt, first };
}

/** A count refuses at `max` or more: exactly when it has a retryAt. */
function counted(window: WindowCount): CheckResult {
  return { allowed: window.retryAt === null, count: window.count, retryAt: window.retryAt, first: false };
}
