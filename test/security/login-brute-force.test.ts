import type { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/attack.js';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, fromAddress, type Reply } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Online password guessing (OWASP Automated Threats OAT-007 credential cracking, OAT-008 credential
 * stuffing; "password spraying": one password, many user names). SPEC §5: after `maxFailures`
 * failures an account waits `backoff`, doubling up to `maxBackoff`, with 429 `too_many_attempts`
 * and Retry-After, and no password is checked; `perIp` caps failures from one address across all
 * accounts; nothing locks for good.
 *
 * What reached the hasher is counted by the gateway's own AccountService (passwordVerifications),
 * not by mocking argon2. Several clients are real: sockets bound to 127.0.0.x, so the gateway sees
 * each address as it would see another machine.
 */

const login = { maxFailures: 5, backoff: 1000, maxBackoffSeconds: 15 * 60, perIp: { max: 20, perSeconds: 5 * 60 } };
const loginConfig = { maxFailures: login.maxFailures, backoff: '1s', maxBackoff: '15m', perIp: { max: login.perIp.max, per: '5m' } };
const tooManyAttempts = JSON.stringify({ error: { code: 'too_many_attempts', message: 'Too many failed attempts; wait before trying again.' } });

let upstream: TestUpstream;
let gw: TestGateway;
const agents = new Map<string, Agent>();

beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(async () => {
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'alice' }, { name: 'bob' }], config: { login: loginConfig } });
  // To a multiple of perIp's window: failures are counted in buckets of 1/60 of it (5 s), so from
  // a bucket's start every Retry-After below is exact.
  gw.clock.set(Math.ceil(gw.clock.now() / (login.perIp.perSeconds * 1000)) * login.perIp.perSeconds * 1000);
});

/** perIp's bucket: a failure is forgotten when its bucket leaves the window, at most this much late. */
const bucketSeconds = login.perIp.perSeconds / 60;
afterEach(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.close()));
  agents.clear();
  await gw.close();
});

/** One client per loopback address, closed after each test. */
function client(address: string): Agent {
  let agent = agents.get(address);
  if (!agent) {
    agent = fromAddress(address);
    agents.set(address, agent);
  }
  return agent;
}

function attempt(address: string, username: string, password: string): Promise<Reply> {
  return call(gw.url, '/auth/login', { method: 'POST', body: { username, password }, dispatcher: client(address) });
}

const verifications = (): number => gw.gateway.services.accounts.passwordVerifications;

/** The response minus what legitimately differs per request: its id, and the wall-clock Date header. */
function fingerprint(reply: Reply): unknown {
  const { 'x-request-id': _id, date: _date, ...headers } = reply.headers;
  return { status: reply.status, body: reply.text, headers };
}

function tally(values: readonly (string | number | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

describe('login brute force', () => {
  it('1,000 wrong passwords from 5 addresses in parallel batches: at most perIp.max per address reach the hasher, at most maxFailures for the real account', async () => {
    const addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
    const before = verifications();
    const replies: Reply[] = [];
    // A third of the attempts aim at the real account (credential cracking), the rest each at a
    // new name (spraying). 20 batches of 50 in flight at once, 10 from each address per batch.
    for (let batch = 0; batch < 20; batch += 1) {
      replies.push(...await Promise.all(Array.from({ length: 50 }, (_, k) => {
        const n = batch * 50 + k;
        return attempt(addresses[n % addresses.length]!, n % 3 === 0 ? 'alice' : `sprayed-${n}`, `wrong password number ${n}`);
      })));
    }
    const reached = verifications() - before;
    const failures = await auditEvents(gw, 'login_failed');
    const byAddress = tally(failures.map((e) => e.ip));
    const onAlice = failures.filter((e) => e.user === 'alice').length;
    const statuses = tally(replies.map((r) => r.status));

    // The bound: every verification that fails counts for its address, and an address at its cap
    // is refused before verifying (attempts per address are serialised, so a parallel batch cannot
    // overshoot): ≤ perIp.max × addresses. Of those, the real account's are ≤ maxFailures, since it
    // is in back-off from its 5th failure and the (frozen) clock never lets the wait end.
    expect(reached).toBeLessThanOrEqual(login.perIp.max * addresses.length);
    expect(onAlice).toBeLessThanOrEqual(login.maxFailures);
    for (const address of addresses) expect(byAddress[address], address).toBeLessThanOrEqual(login.perIp.max);
    // And it is reached exactly: every address had enough fresh names to use up its 20 failures.
    expect({ reached, onAlice, byAddress, statuses }).toEqual({
      reached: 100,
      onAlice: 5,
      byAddress: Object.fromEntries(addresses.map((a) => [a, 20])),
      statuses: { 401: 100, 429: 900 },
    });
    for (const reply of replies.filter((r) => r.status === 429)) {
      expect(reply.text).toBe(tooManyAttempts);
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // One audit event per throttle started (alice, and each address), not one per refusal.
    const throttled = await auditEvents(gw, 'login_throttled');
    expect(tally(throttled.map((e) => `${e.detail.scope}:${e.detail.scope === 'ip' ? e.ip : e.user}`))).toEqual({
      'account:alice': 1,
      ...Object.fromEntries(addresses.map((a) => [`ip:${a}`, 1])),
    });

    // Not a permanent lock: after the wait the right password works. From a fresh address the
    // account's 1 s back-off is all that is left…
    const early = await attempt('127.0.0.7', 'alice', PASSWORD);
    expect(early.status).toBe(429);
    expect(early.headers['retry-after']).toBe('1');
    expect(verifications() - before).toBe(100);
    gw.clock.advance(1000);
    const late = await attempt('127.0.0.7', 'alice', PASSWORD);
    expect(late.status).toBe(200);
    expect(late.cookie).toBeTruthy();
    // …and a capped address gets in once its oldest failure (its bucket) has left the 5-minute window.
    const capped = await attempt('127.0.0.2', 'alice', PASSWORD);
    expect(capped.status).toBe(429);
    expect(capped.headers['retry-after']).toBe(String(login.perIp.perSeconds + bucketSeconds - 1));
    gw.clock.advance((login.perIp.perSeconds + bucketSeconds - 1) * 1000 - 1);
    expect((await attempt('127.0.0.2', 'alice', PASSWORD)).status).toBe(429);
    gw.clock.advance(1);
    expect((await attempt('127.0.0.2', 'alice', PASSWORD)).status).toBe(200);
  });

  it('a parallel burst at one account from 10 addresses reaches the hasher exactly maxFailures times', async () => {
    const before = verifications();
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => attempt(`127.0.1.${1 + (i % 10)}`, 'alice', `guess ${i}`)));
    expect(verifications() - before).toBe(login.maxFailures);
    expect(tally(replies.map((r) => r.status))).toEqual({ 401: 5, 429: 95 });
  });

  it('the 429 for an existing and a non-existing name is identical apart from X-Request-Id (and Date), and checks no password', async () => {
    const address = '127.0.0.20';
    for (let i = 0; i < login.maxFailures; i += 1) {
      expect((await attempt(address, 'alice', `wrong ${i}`)).status).toBe(401);
      expect((await attempt(address, 'nobody-by-that-name', `wrong ${i}`)).status).toBe(401);
    }
    const before = verifications();
    const existing = await attempt(address, 'alice', PASSWORD);
    const missing = await attempt(address, 'nobody-by-that-name', PASSWORD);
    const wrongPassword = await attempt(address, 'alice', 'still wrong');
    expect(verifications()).toBe(before);
    expect(existing.status).toBe(429);
    expect(existing.text).toBe(tooManyAttempts);
    expect(existing.headers['retry-after']).toBe('1');
    expect(existing.setCookie).toEqual([]);
    expect(fingerprint(missing)).toEqual(fingerprint(existing));
    expect(fingerprint(wrongPassword)).toEqual(fingerprint(existing));
    expect(existing.headers['x-request-id']).not.toBe(missing.headers['x-request-id']);
  });

  it('spraying 25 names from one address: the 21st attempt hits the cap, Retry-After counts down to the oldest failure (its bucket) leaving the window', async () => {
    const address = '127.0.0.30';
    const start = gw.clock.now();
    const seen: [number, string | undefined][] = [];
    for (let i = 0; i < 25; i += 1) {
      const reply = await attempt(address, `victim-${i}`, 'Summer2026!Summer');
      seen.push([reply.status, reply.headers['retry-after'] as string | undefined]);
      gw.clock.advance(1000);
    }
    // Failures at start + 0 … 19 s; the oldest five share the bucket [start, start + 5 s), which
    // leaves the window at start + 305 s; the 21st attempt comes at start + 20 s: 285 s to go.
    expect(seen).toEqual([
      ...Array.from({ length: 20 }, (): [number, undefined] => [401, undefined]),
      [429, '285'], [429, '284'], [429, '283'], [429, '282'], [429, '281'],
    ]);
    // Another client is not affected.
    expect((await attempt('127.0.0.31', 'victim-0', 'Summer2026!Summer')).status).toBe(401);
    // When that bucket leaves, its five slots free: five attempts, then the cap again until the
    // next bucket (start + 5 … 9 s) leaves, 5 s later.
    gw.clock.set(start + (login.perIp.perSeconds + bucketSeconds) * 1000 - 1);
    expect((await attempt(address, 'victim-25', 'Summer2026!Summer')).status).toBe(429);
    gw.clock.advance(1);
    for (let i = 0; i < 5; i += 1) expect((await attempt(address, `victim-${26 + i}`, 'Summer2026!Summer')).status).toBe(401);
    const again = await attempt(address, 'victim-31', 'Summer2026!Summer');
    expect([again.status, again.headers['retry-after']]).toEqual([429, '5']);
    // Newest first: the cap started twice, once per time the address reached it.
    const events = (await auditEvents(gw, 'login_throttled')).filter((e) => e.ip === address);
    expect(events.map((e) => e.detail)).toEqual([
      { scope: 'ip', failures: 20, retryAfterSeconds: 5, endpoint: 'auth.login' },
      { scope: 'ip', failures: 20, retryAfterSeconds: 286, endpoint: 'auth.login' },
    ]);
  });

  it('the account back-off: Retry-After 1, 2, 4, 8 s; even the right password waits; one audit event for the whole episode', async () => {
    const address = '127.0.0.40';
    for (let i = 0; i < login.maxFailures; i += 1) expect((await attempt(address, 'alice', `wrong ${i}`)).status).toBe(401);
    for (const wait of [1, 2, 4, 8]) {
      const refused = await attempt(address, 'alice', PASSWORD);
      expect([refused.status, refused.headers['retry-after']]).toEqual([429, String(wait)]);
      gw.clock.advance(wait * 1000 - 1);
      expect((await attempt(address, 'alice', PASSWORD)).headers['retry-after']).toBe('1');
      gw.clock.advance(1);
      expect((await attempt(address, 'alice', 'wrong again')).status).toBe(401);
    }
    const capped = await attempt('127.0.0.41', 'alice', PASSWORD);
    expect(capped.headers['retry-after']).toBe('16');
    gw.clock.advance(16_000);
    expect((await attempt('127.0.0.41', 'alice', PASSWORD)).status).toBe(200);
    // The success reset the account: four more failures are checked again without a wait.
    for (let i = 0; i < login.maxFailures - 1; i += 1) expect((await attempt('127.0.0.41', 'alice', `wrong ${i}`)).status).toBe(401);
    expect((await attempt('127.0.0.41', 'alice', PASSWORD)).status).toBe(200);
    const events = await auditEvents(gw, 'login_throttled');
    expect(events.map((e) => [e.user, e.ip, e.detail.scope])).toEqual([['alice', address, 'account']]);
  });

  it('Alice, ALICE and full-width ａｌｉｃｅ count as one account', async () => {
    for (const name of ['Alice', 'ALICE', 'ａｌｉｃｅ', 'aLiCe', 'alicE']) expect((await attempt('127.0.0.50', name, PASSWORD)).status).toBe(401);
    expect((await attempt('127.0.0.51', 'alice', PASSWORD)).status).toBe(429);
  });

  it('a wrong current password on /auth/password counts as a failure for the account', async () => {
    const address = '127.0.0.60';
    const session = (await attempt(address, 'bob', PASSWORD)).cookie!;
    const change = (currentPassword: string): Promise<Reply> =>
      call(gw.url, '/auth/password', { method: 'POST', session, body: { currentPassword, newPassword: 'a brand new passphrase' }, dispatcher: client(address) });
    const before = verifications();
    for (let i = 0; i < login.maxFailures; i += 1) expect((await change(`wrong ${i}`)).status).toBe(401);
    const refused = await change(PASSWORD);
    expect([refused.status, refused.headers['retry-after'], refused.text]).toEqual([429, '1', tooManyAttempts]);
    // The same account is throttled at the login too.
    expect((await attempt('127.0.0.61', 'bob', PASSWORD)).status).toBe(429);
    expect(verifications() - before).toBe(login.maxFailures);
    gw.clock.advance(1000);
    expect((await change(PASSWORD)).status).toBe(204);
  });
});
