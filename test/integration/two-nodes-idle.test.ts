import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPassword as password, startCluster, type Cluster } from '../helpers/cluster.js';
import { call, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

/**
 * SPEC §8, "Idle timeout across nodes", on two real `serve` processes. They run on the system clock
 * (a serve process takes no injected one), so this file alone waits in real time, with a 2-second
 * idle timeout and margins of half a second or more either side; src/sessions/session-service.test.ts
 * proves the same rules with a manual clock, to the millisecond.
 */

const postgres = usePostgres();
const redis = useRedis();
const idleMs = 2_000;
let cluster: Cluster;
let a: string;
let b: string;

beforeAll(async () => {
  cluster = await startCluster({ postgres: postgres.server, redis: redis.server, users: ['alice'], extra: ['session: { idleTimeout: 2s }'] });
  [a, b] = cluster.nodes.map((n) => n.base) as [string, string];
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const proxied = async (base: string, cookie: string) => (await call(base, '/api/x', { session: cookie })).status;

describe('idle timeout across two nodes (SPEC §8)', () => {
  it('requests within the first second on one node keep the session alive on the other until idleTimeout after the last of them, and it ends within 1 s after that', async () => {
    const cookie = await login(a, 'alice', password);
    const loggedInAt = Date.now();
    // Several requests within a second of the login: the old one-second granularity dropped them all.
    for (let i = 0; i < 3; i++) {
      await pause(250);
      expect(await proxied(a, cookie)).toBe(200);
    }
    const lastServedAt = Date.now();
    expect(lastServedAt - loggedInAt).toBeLessThan(1_000);
    // Past idleTimeout since the login, 1.4 s after the last request: alive on the other node.
    await pause(1_400);
    expect(Date.now() - loggedInAt).toBeGreaterThan(idleMs);
    expect(await proxied(b, cookie)).toBe(200);
    const lastAt = Date.now();
    // And ended within a second of idleTimeout after the last request, on both nodes.
    await pause(idleMs + 1_000 - (Date.now() - lastAt));
    expect(await proxied(a, cookie)).toBe(401);
    expect(await proxied(b, cookie)).toBe(401);
  }, 30_000);

  it('never early on a node whose memory holds an old last activity: activity on the other node keeps the session alive there, past idleTimeout after the last request it served itself', async () => {
    const cookie = await login(a, 'alice', password);
    // Served by a: its memory now holds the session with this last activity.
    expect(await proxied(a, cookie)).toBe(200);
    const servedByA = Date.now();
    // Activity on b only, while a's memory ages.
    for (let i = 0; i < 3; i++) {
      await pause(600);
      expect(await proxied(b, cookie)).toBe(200);
    }
    // Past idleTimeout since a last served it (by a's memory, idle), 0.6 s after b did: alive on a.
    await pause(Math.max(0, idleMs + 400 - (Date.now() - servedByA)));
    expect(Date.now() - servedByA).toBeGreaterThan(idleMs);
    expect(await proxied(a, cookie)).toBe(200);
    const lastAt = Date.now();
    // Then it ends within a second of idleTimeout after that last request, on both nodes.
    await pause(idleMs + 1_000 - (Date.now() - lastAt));
    expect(await proxied(b, cookie)).toBe(401);
    expect(await proxied(a, cookie)).toBe(401);
  }, 30_000);
});
