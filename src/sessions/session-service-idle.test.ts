import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { usePostgres } from '../../test/helpers/postgres.js';
import { AuditLog } from '../audit/audit-log.js';
import { silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { sha256Hex } from '../security/hash.js';
import { cryptoRandom } from '../security/random.js';
import { userRecord } from '../storage/contract/fixtures.js';
import { openPostgresStore, type PostgresStore } from '../storage/postgres/open-postgres-store.js';
import { SessionService, writeThroughMarginMs } from './session-service.js';

/**
 * SPEC §8, "Idle timeout across nodes": a session is never ended for idleness before `idleTimeout`
 * has passed since the last request any node served, and is ended once it has. Two services, as two
 * nodes, each on a pool of its own to one real PostgreSQL, share one manual clock (clocks in sync);
 * node A serves requests (validate + touch, as the pipeline does) and node B judges the session.
 * No test flushes A's written-behind activity unless it says so: what B sees is what the store held.
 */
const postgres = usePostgres();
const idle = 30 * 60_000;
const clock = new ManualClock(Date.UTC(2026, 5, 1));
let stores: PostgresStore[] = [];
let a: SessionService;
let b: SessionService;

beforeAll(async () => {
  const url = await postgres.server.createDatabase();
  const open = () => openPostgresStore({ postgres: url, pool: 4, timeout: 10_000 }, { env: {}, logger: silentLogger() });
  stores = [await open(), await open()];
  const service = (store: PostgresStore) => new SessionService({
    store: store.sessions,
    logger: silentLogger(),
    clock,
    random: cryptoRandom,
    audit: new AuditLog({ store: store.audit, logger: silentLogger(), clock }),
    settings: { idleTimeout: idle, absoluteTimeout: 12 * 3_600_000 },
  });
  [a, b] = stores.map(service) as [SessionService, SessionService];
  await stores[0]!.users.create(userRecord({ name: 'alice' }));
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
});

beforeEach(() => {
  clock.advance(24 * 3_600_000);
});

/** A request served by `node`: validated, then its activity recorded, as the pipeline does. */
async function serve(node: SessionService, token: string): Promise<boolean> {
  const live = await node.validate(token);
  if (!live) return false;
  await node.touch(live.session);
  return true;
}

async function login(): Promise<string> {
  const user = (await stores[0]!.users.get('alice'))!;
  return (await a.create(user, { ip: '203.0.113.9', userAgent: 'test' })).token;
}

const storedLastSeen = async (token: string) => (await stores[1]!.sessions.get(sha256Hex(token)))?.lastSeenAt;

describe('idle timeout across nodes', () => {
  it('a request less than a second after the last one still restarts the idle timeout for the other node', async () => {
    const token = await login();
    clock.advance(900);
    expect(await serve(a, token)).toBe(true);
    const last = clock.now();
    // The batch lands (within 250 ms in real time; here, at once).
    await a.flushActivity();
    clock.advance(idle - 900);
    expect(await serve(b, token)).toBe(true);
    expect(await storedLastSeen(token)).toBe(clock.now());
    expect(clock.now() - last).toBe(idle - 900);
  });

  it('a request just before the deadline is written through: the other node does not end the session right after it', async () => {
    const token = await login();
    clock.advance(idle - 100);
    expect(await serve(a, token)).toBe(true);
    // No flush: a request this close to the deadline is in the store before it goes on.
    expect(await storedLastSeen(token)).toBe(clock.now());
    clock.advance(200);
    expect(await serve(b, token)).toBe(true);
  });

  it('activity far from the deadline is written behind, and is in the store long before the other node could judge by it', async () => {
    const token = await login();
    clock.advance(idle - writeThroughMarginMs - 1);
    expect(await serve(a, token)).toBe(true);
    const servedAt = clock.now();
    expect(await storedLastSeen(token)).toBeLessThan(servedAt);
    await a.flushActivity();
    expect(await storedLastSeen(token)).toBe(servedAt);
    clock.advance(idle - 1);
    expect(await b.validate(token)).not.toBeNull();
  });

  it('ends the session exactly idleTimeout after the last request, whichever node served it, on both nodes', async () => {
    const token = await login();
    clock.advance(idle - 5_000);
    expect(await serve(b, token)).toBe(true);
    const last = clock.now();
    await b.flushActivity();
    clock.set(last + idle - 1);
    expect(await a.validate(token)).not.toBeNull();
    expect(await b.validate(token)).not.toBeNull();
    clock.set(last + idle);
    expect(await a.validate(token)).toBeNull();
    expect(await b.validate(token)).toBeNull();
  });

  it('a request validated just before the deadline and written through first keeps the session alive on the other node', async () => {
    const token = await login();
    clock.advance(idle - 1);
    const live = await a.validate(token);
    expect(await a.touch(live!.session)).toBe(true);
    clock.advance(1);
    expect(await b.validate(token)).not.toBeNull();
  });

  it('a request validated just before the deadline loses to a node that ended the session at it: refused, not served', async () => {
    const token = await login();
    clock.advance(idle - 1);
    const live = await a.validate(token);
    expect(live).not.toBeNull();
    // B, at the deadline the store shows, ends the session before A's activity is written …
    clock.advance(1);
    expect(await b.validate(token)).toBeNull();
    // … so A's write-through finds it gone and the request goes no further.
    expect(await a.touch(live!.session)).toBe(false);
    // Deleted, not just judged: a clock turned back does not revive it.
    clock.advance(-idle / 2);
    expect(await a.validate(token)).toBeNull();
  });

  it('the purge deletes no session that a node served within idleTimeout, written through or behind', async () => {
    const near = await login();
    const far = await login();
    clock.advance(idle / 2);
    expect(await serve(a, far)).toBe(true);
    await a.flushActivity();
    clock.advance(idle / 2 - 3_000);
    expect(await serve(a, near)).toBe(true);
    clock.advance(4_000);
    await b.purgeExpired();
    expect(await b.validate(near)).not.toBeNull();
    expect(await b.validate(far)).not.toBeNull();
  });

  it('the purge deletes an idle session at its deadline in the store, not a millisecond before', async () => {
    const token = await login();
    clock.advance(idle - 1);
    await b.purgeExpired();
    expect(await stores[1]!.sessions.get(sha256Hex(token))).not.toBeNull();
    clock.advance(1);
    await b.purgeExpired();
    expect(await stores[1]!.sessions.get(sha256Hex(token))).toBeNull();
  });
});
