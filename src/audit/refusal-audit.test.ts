import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { MemoryCounterStore } from '../rules/memory-counter-store.js';
import { ManualClock } from '../security/clock.js';
import { AuditLog } from './audit-log.js';
import type { AuditEvent, AuditStore } from './audit-store.js';
import { RefusalAudit } from './refusal-audit.js';

/** The events appended, in order: what the real stores keep, without a file. */
function collectingStore(): AuditStore & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return {
    events,
    append: async (event) => {
      events.push(event);
    },
    recent: async (limit) => events.slice(-limit).reverse(),
  };
}

/** Background writes resolve on the next turns of the event loop. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

function setup(counters = new MemoryCounterStore()) {
  const store = collectingStore();
  const clock = new ManualClock();
  const refusals = new RefusalAudit({ audit: new AuditLog({ store, logger: silentLogger(), clock }), counters, clock });
  return { store, clock, refusals, counters };
}

describe('RefusalAudit', () => {
  it('records once per type, reason, address and minute', async () => {
    const { store, clock, refusals } = setup();
    for (let i = 0; i < 50; i++) await refusals.record('csrf_rejected', 'missing_header', { ip: '192.0.2.1', requestId: `r${i}` }, { reason: 'missing_header' });
    await refusals.record('csrf_rejected', 'foreign_origin', { ip: '192.0.2.1' }, { reason: 'foreign_origin' });
    await refusals.record('csrf_rejected', 'missing_header', { ip: '2001:db8::1' }, { reason: 'missing_header' });
    await refusals.record('ip_blocked', 'ip_rules', { ip: '192.0.2.1' });
    await settle();
    expect(store.events.map((e) => [e.type, e.ip, e.detail.reason ?? null, e.requestId])).toEqual([
      ['csrf_rejected', '192.0.2.1', 'missing_header', 'r0'],
      ['csrf_rejected', '192.0.2.1', 'foreign_origin', null],
      ['csrf_rejected', '2001:db8::1', 'missing_header', null],
      ['ip_blocked', '192.0.2.1', null, null],
    ]);
    clock.advance(59_999);
    await refusals.record('csrf_rejected', 'missing_header', { ip: '192.0.2.1' }, { reason: 'missing_header' });
    await settle();
    expect(store.events).toHaveLength(4);
    // The marker is counted in 1 s buckets (rules/bucket-window.ts): it leaves within a second after the minute.
    clock.advance(1_001);
    await refusals.record('csrf_rejected', 'missing_header', { ip: '192.0.2.1' }, { reason: 'missing_header' });
    await settle();
    expect(store.events).toHaveLength(5);
  });

  it('concurrent refusals of one address write one row', async () => {
    const { store, refusals } = setup();
    await Promise.all(Array.from({ length: 100 }, () => refusals.record('csrf_rejected', 'cross_site', { ip: '192.0.2.9' })));
    await settle();
    expect(store.events).toHaveLength(1);
  });

  it("its memory is the counters' bound, however many addresses refuse", async () => {
    const { store, refusals, counters } = setup(new MemoryCounterStore({ maxKeys: 1_000 }));
    for (let i = 0; i < 5_000; i++) await refusals.record('csrf_rejected', 'missing_header', { ip: `10.0.${i >> 8}.${i & 255}` });
    await settle();
    expect(counters.size).toBeLessThanOrEqual(1_000);
    expect(store.events).toHaveLength(5_000);
  });
});
