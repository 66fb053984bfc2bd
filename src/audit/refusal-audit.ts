import type { CounterStore } from '../rules/counter-store.js';
import type { Clock } from '../security/clock.js';
import type { AuditContext, AuditDetail, AuditLog } from './audit-log.js';

/** The refusals a client can repeat at will (SPEC §6). */
export type RepeatableRefusal = 'csrf_rejected' | 'ip_blocked' | 'oidc_login_failed' | 'oidc_backchannel_logout_refused' | 'admin_console_refused';

/** SPEC §6: "at most once per address, reason and minute". */
export const refusalAuditWindowMs = 60_000;

/**
 * Audits refusals a client can repeat at will at most once per address, reason and minute (SPEC §6),
 * so a client sending 10,000 rejected requests costs one audit row (and log line) per reason and
 * minute, not one per request.
 *
 * The marker is a `take` of 1 per minute on the gateway's counters: atomic, so concurrent requests,
 * or workers sharing the store, write one row between them. Counted in buckets of a second
 * (rules/bucket-window.ts), the next marker comes up to a second after the minute, never before. Those counters are bounded, and so is
 * this memory: in process memory at most 100,000 keys in all (MemoryCounterStore evicts the idlest,
 * which at worst lets an evicted address be audited again within its minute); in the store a
 * marker is purged a minute after it was set (the gateway's housekeeping).
 */
export class RefusalAudit {
  readonly #audit: AuditLog;
  readonly #counters: CounterStore;
  readonly #clock: Clock;

  constructor(deps: { audit: AuditLog; counters: CounterStore; clock: Clock }) {
    this.#audit = deps.audit;
    this.#counters = deps.counters;
    this.#clock = deps.clock;
  }

  /**
   * Records the refusal unless this address was audited for the same type and reason within the
   * last minute. The event itself is written in the background (AuditLog.recordInBackground).
   */
  async record(type: RepeatableRefusal, reason: string, context: AuditContext & { ip: string }, detail: AuditDetail = {}): Promise<void> {
    // Type and reason never contain ":", so an IPv6 address at the end keeps the key unambiguous.
    const first = await this.#counters.take(`audit:${type}:${reason}:${context.ip}`, this.#clock.now(), refusalAuditWindowMs, 1);
    if (first.allowed) this.#audit.recordInBackground(type, context, detail);
  }
}
