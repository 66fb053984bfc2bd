import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';
import type { AuditEvent, AuditStore, AuditType } from './audit-store.js';
import { errorFields } from '../log/error-fields.js';

/** Who and where an event is about. For CLI actions the ip and request id are null. */
export interface AuditContext {
  user?: string | null;
  ip?: string | null;
  requestId?: string | null;
}

export type AuditDetail = AuditEvent['detail'];

/** Writes security events (SPEC §6) to the store and to the log. */
export class AuditLog {
  readonly #store: AuditStore;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #observers: Array<(type: AuditType, detail: AuditDetail) => void> = [];

  constructor(deps: { store: AuditStore; logger: Logger; clock: Clock }) {
    this.#store = deps.store;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
  }

  /** Told of every event as it is recorded (the metrics count logins, rule actions and leaks here, SPEC §11). */
  observe(observer: (type: AuditType, detail: AuditDetail) => void): void {
    this.#observers.push(observer);
  }

  async record(type: AuditType, context: AuditContext, detail: AuditDetail = {}): Promise<void> {
    for (const observer of this.#observers) observer(type, detail);
    const event: AuditEvent = {
      time: this.#clock.now(),
      type,
      user: context.user ?? null,
      ip: context.ip ?? null,
      requestId: context.requestId ?? null,
      detail,
    };
    this.#logger.info({ audit: { ...event, time: new Date(event.time).toISOString() } }, `audit ${type}`);
    await this.#store.append(event);
  }

  /**
   * Records without making the request wait for the store. A failed write is logged, never
   * swallowed: an audit trail with silent holes would be worse than none.
   */
  recordInBackground(type: AuditType, context: AuditContext, detail: AuditDetail = {}): void {
    this.record(type, context, detail).catch((error: unknown) => {
      this.#logger.error({ err: errorFields(error), auditType: type }, 'audit event could not be stored');
    });
  }
}
