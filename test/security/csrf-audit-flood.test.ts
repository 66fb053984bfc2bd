import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit-store.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/attack.js';
import { call, fromAddress } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Audit flooding: a client repeats a request it knows will be refused by the CSRF check, 10,000
 * times, to fill the audit store and the log (burying what matters, costing a store write each).
 * SPEC §6: CSRF rejections are audited at most once per address, reason and minute.
 */

const total = 10_000;
/** Requests in flight at once, over keep-alive connections: fast, and bounded. */
const concurrency = 32;

/** One way to be refused per CSRF reason, all aimed at /auth/login (no session needed). */
const refusals: Record<string, { method: 'POST' | 'OPTIONS'; headers: Record<string, string> }> = {
  missing_header: { method: 'POST', headers: {} },
  foreign_origin: { method: 'POST', headers: { 'x-csrf': '1', origin: 'https://evil.example' } },
  cross_site: { method: 'POST', headers: { 'x-csrf': '1', 'sec-fetch-site': 'cross-site' } },
  preflight: { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } },
};
const reasons = Object.keys(refusals);

let upstream: TestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ upstreamUrl: upstream.url });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** Sends `count` refused requests, cycling through the reasons; returns the statuses seen. */
async function flood(count: number): Promise<Map<number, number>> {
  const pool = new Pool(gw.url, { connections: concurrency, pipelining: 1 });
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const refusal = refusals[reasons[next++ % reasons.length]!]!;
      const res = await pool.request({ path: '/auth/login', method: refusal.method, headers: refusal.headers });
      await res.body.dump();
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  return statuses;
}

/** Every csrf_rejected row (newest first), however many a flood wrote. */
async function csrfRows(): Promise<AuditEvent[]> {
  return (await gw.gateway.services.store.audit.recent(2 * total)).filter((e) => e.type === 'csrf_rejected');
}

/** The csrf_rejected rows, once background writes have settled (the same count twice in a row). */
async function settledRows(): Promise<AuditEvent[]> {
  let rows = await csrfRows();
  for (;;) {
    await sleep(100);
    const again = await csrfRows();
    if (again.length === rows.length) return again;
    rows = again;
  }
}

describe('CSRF audit flood', () => {
  it(`${total} rejected requests from one address add one audit row per reason in a minute`, async () => {
    const statuses = await flood(total);
    expect(Object.fromEntries(statuses)).toEqual({ 403: total });
    const rows = await settledRows();
    // Bounded by reasons × minutes elapsed: the injected clock has not moved.
    expect(rows.length).toBe(reasons.length);
    expect(rows.map((r) => r.detail.reason).sort()).toEqual([...reasons].sort());
    expect(rows.every((r) => r.ip === '127.0.0.1')).toBe(true);
    // The log carries each audit event once as well, not once per request (log lines go out in
    // batches, at most 250 ms late).
    await sleep(400);
    expect(gw.logs().match(/"msg":"audit csrf_rejected"/g)).toHaveLength(reasons.length);
  }, 120_000);

  it('a minute later the same address and reason are audited once more, and only once', async () => {
    // A minute and one counter bucket (1 s, rules/bucket-window.ts): the marker leaves by then.
    gw.clock.advance(61_000);
    const before = (await settledRows()).length;
    await flood(200);
    const rows = await settledRows();
    expect(rows.length).toBe(before + reasons.length);
    gw.clock.advance(59_000);
    await flood(reasons.length);
    expect((await settledRows()).length).toBe(before + reasons.length);
  }, 60_000);

  it('another address has its own minute', async () => {
    const before = (await settledRows()).length;
    const other = fromAddress('127.0.0.2');
    try {
      for (let i = 0; i < 20; i++) expect((await call(gw.url, '/auth/login', { method: 'POST', csrf: false, dispatcher: other })).status).toBe(403);
    } finally {
      await other.close();
    }
    const rows = await settledRows();
    expect(rows.length).toBe(before + 1);
    expect(rows[0]).toMatchObject({ ip: '127.0.0.2', detail: { reason: 'missing_header' } });
  });
});
