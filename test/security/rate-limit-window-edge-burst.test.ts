import { describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Squeezing a rate limit at its edges (OWASP Automated Threats OAT-021 denial of inventory and
 * friends rely on it; so does every "burst at the window boundary" trick against fixed or
 * two-window limiters). SPEC §5: never more than `max` requests are let through in any window of
 * `per`, and a rule may refuse only slightly early, by a documented margin (one bucket: per/60,
 * docs/decisions/0002-rate-window.md).
 *
 * The attacker controls its timing exactly (the gateway's clock is moved): bursts just before and
 * just after bucket and window edges, a steady pace at the limit, and requests sent at the very
 * millisecond Retry-After names and one before. What counts as let through is what the upstream
 * received. Run against both counter stores: in memory (`workers: 1`) and in SQLite, shared by
 * workers (`workers: 2` puts the counters there; the gateway here is one process).
 */
const max = 5;
const perMs = 12_000;
const bucketMs = perMs / 60;

describe.each([1, 2])('rate limit window edges, server.workers: %i', (workers) => {
  const env = useGateway({
    users: [{ name: 'mallory' }],
    config: {
      server: { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080', workers },
      routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
      limits: [{ name: 'edge', match: '/api/**', by: 'session', max, per: '12s', action: 'reject' }],
    },
  });

  it(`never lets more than ${max} through in any ${perMs / 1000} s, refusing at most one bucket early, and Retry-After is honest`, async () => {
    const cookie = await login(env.gw.url, 'mallory');
    const clock = env.gw.clock;
    clock.set(Math.ceil(clock.now() / perMs) * perMs);
    const passed: number[] = [];
    const inWindow = (from: number, to: number): number => passed.filter((t) => t > from && t <= to).length;
    let refusedEarly = 0;
    let obeyed = 0;
    const send = async (): Promise<{ status: number; retryAfter: number }> => {
      const now = clock.now();
      const reply = await call(env.gw.url, '/api/x', { session: cookie });
      if (reply.status === 200) passed.push(now);
      // The attacker's own exact bookkeeping: a full window must refuse; a window and a bucket
      // holding fewer than max must not.
      if (inWindow(now - perMs, now) > max) throw new Error(`more than ${max} let through by ${now}`);
      if (reply.status === 429 && inWindow(now - perMs - bucketMs, now) < max) throw new Error(`refused more than a bucket early at ${now}`);
      if (reply.status === 429 && inWindow(now - perMs, now) < max) refusedEarly += 1;
      return { status: reply.status, retryAfter: Number(reply.headers['retry-after'] ?? 0) };
    };

    for (let round = 0; round < 6; round += 1) {
      // A burst in the last milliseconds of a window, then one at the first of the next.
      clock.set(Math.ceil((clock.now() + 1) / perMs) * perMs - 3);
      for (let i = 0; i < max + 2; i += 1) await send();
      clock.advance(3);
      for (let i = 0; i < max + 2; i += 1) await send();
      // Both sides of every bucket edge for a while.
      for (let edge = 0; edge < 8; edge += 1) {
        clock.set(Math.ceil((clock.now() + 1) / bucketMs) * bucketMs - 1);
        await send();
        clock.advance(1);
        await send();
      }
      // Retry-After taken at its word: a second (its resolution) before is still refused, on
      // time it gets in.
      const refused = await send();
      if (refused.status === 429) {
        clock.advance(refused.retryAfter * 1000 - 1_000);
        expect((await send()).status).toBe(429);
        clock.advance(1_000);
        expect((await send()).status).toBe(200);
        obeyed += 1;
      }
      // A steady pace at the limit.
      for (let i = 0; i < 2 * max; i += 1) {
        clock.advance(perMs / max);
        await send();
      }
    }
    expect(passed.length).toBeGreaterThan(6 * max);
    expect(obeyed).toBeGreaterThan(0);
    expect(refusedEarly).toBeGreaterThan(0);
    let busiest = 0;
    for (const end of passed) busiest = Math.max(busiest, inWindow(end - perMs, end));
    expect(busiest).toBe(max);
    expect(env.upstream.seen).toHaveLength(passed.length);
  });
});
