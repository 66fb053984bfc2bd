import type { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { auditEvents } from '../helpers/attack.js';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, fromAddress, type Reply } from '../helpers/http.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Online guessing of the second factor by someone who already has the password (phished,
 * stuffed, reused): a 6-digit TOTP code is only 10^6 values, three of which are valid at any time
 * (one step of drift either way), so at request rate it falls in hours. SPEC §4.5: the fifth wrong
 * code ends the pending session; SPEC §5: wrong MFA codes count as failures for the account, so
 * after `maxFailures` every attempt waits (429 too_many_attempts with Retry-After, even the right
 * code), doubling up to `maxBackoff`; `perIp` caps failures per address. RFC 6238 §5.2 and NIST SP
 * 800-63B §5.2.2 ask for exactly this: "the verifier SHALL implement a rate-limiting mechanism".
 *
 * Code checks are counted on the gateway's own TotpService (a pass-through spy on `verify`, the
 * one place a code is compared), not by mocking it.
 */

const limits = { maxFailures: 5, perIp: 20 };
const loginConfig = { maxFailures: limits.maxFailures, backoff: '1s', maxBackoff: '15m', perIp: { max: limits.perIp, per: '5m' } };
const tooManyAttempts = JSON.stringify({ error: { code: 'too_many_attempts', message: 'Too many failed attempts; wait before trying again.' } });
/** At most this many codes are valid at one instant: the current step and one either side. */
const validAtOnce = 3;

let upstream: TestUpstream;
let gw: TestGateway;
let secret: string;
let checks: () => number;
const agents = new Map<string, Agent>();

beforeEach(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'alice' }], config: { login: loginConfig } });
  secret = await enrol('alice');
  const spy = vi.spyOn(gw.gateway.services.totp, 'verify');
  checks = () => spy.mock.calls.length;
});
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all([...agents.values()].map((agent) => agent.close()));
  agents.clear();
  await gw.close();
  await upstream.close();
});

/** One client per loopback address (127.0.0.0/8 is all ours): the gateway sees another machine. */
function client(address: string): Agent {
  let agent = agents.get(address);
  if (!agent) {
    agent = fromAddress(address);
    agents.set(address, agent);
  }
  return agent;
}

async function enrol(name: string): Promise<string> {
  const cookie = (await call(gw.url, '/auth/login', { method: 'POST', body: { username: name, password: PASSWORD }, dispatcher: client('127.0.9.9') })).cookie!;
  const setup = await call(gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {}, dispatcher: client('127.0.9.9') });
  const enrolled = setup.json().secret as string;
  const confirm = await call(gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(enrolled, gw.clock.now(), -1) }, dispatcher: client('127.0.9.9') });
  expect(confirm.status).toBe(200);
  return enrolled;
}

function passwordLogin(address: string): Promise<Reply> {
  return call(gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD }, dispatcher: client(address) });
}

async function pendingSession(address: string): Promise<string> {
  const reply = await passwordLogin(address);
  expect(reply.status).toBe(200);
  expect(reply.json().mfaRequired).toBe(true);
  return reply.cookie!;
}

function guess(address: string, pending: string, code: string): Promise<Reply> {
  return call(gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code }, dispatcher: client(address) });
}

let nextGuess = 0;
/** A code that is wrong now (none of the three valid ones), different on each call. */
function wrongCode(): string {
  const now = gw.clock.now();
  const valid = new Set([-1, 0, 1].map((steps) => totpCode(secret, now, steps)));
  for (;;) {
    const candidate = String(nextGuess++ % 1_000_000).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

function rightCode(): string {
  return totpCode(secret, gw.clock.now());
}

function expect429(reply: Reply, retryAfter?: string): void {
  expect(reply.status).toBe(429);
  expect(reply.text).toBe(tooManyAttempts);
  if (retryAfter !== undefined) expect(reply.headers['retry-after']).toBe(retryAfter);
  else expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

function tally(values: readonly (string | number)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

describe('TOTP brute force', () => {
  it('the fifth wrong code ends the pending session; the right code cannot revive it', async () => {
    const address = '127.0.1.1';
    const pending = await pendingSession(address);
    for (let i = 1; i < 5; i += 1) {
      const reply = await guess(address, pending, wrongCode());
      expect([reply.status, reply.json().error.code], `guess ${i}`).toEqual([400, 'invalid_code']);
    }
    const fifth = await guess(address, pending, wrongCode());
    expect([fifth.status, fifth.json().error.code]).toEqual([401, 'unauthenticated']);
    expect(fifth.cookie).toBeNull();
    expect(await gw.gateway.services.store.sessions.get(sha256Hex(pending))).toBeNull();

    const revived = await guess(address, pending, rightCode());
    expect([revived.status, revived.json().error.code]).toEqual([401, 'unauthenticated']);
    expect((await call(gw.url, '/auth/session', { session: pending, dispatcher: client(address) })).status).toBe(401);
    expect(checks()).toBe(5);
    // The ended session was not a lock: after the account's 1 s wait a new login and the right code work.
    gw.clock.advance(1000);
    expect((await guess(address, await pendingSession(address), rightCode())).status).toBe(200);
  });

  it('wrong codes spread over several pending sessions add up for the account: then 429 with Retry-After for the right code and the password alike, and no code is checked', async () => {
    const address = '127.0.2.1';
    const [a, b, c] = [await pendingSession(address), await pendingSession(address), await pendingSession(address)];
    for (const session of [a, a, b, b, c]) expect((await guess(address, session!, wrongCode())).status).toBe(400);
    expect(checks()).toBe(limits.maxFailures);

    // Every session, the right code, another address, the password step itself: all wait.
    expect429(await guess(address, c!, rightCode()), '1');
    expect429(await guess(address, a!, rightCode()), '1');
    expect429(await guess('127.0.2.2', b!, rightCode()), '1');
    expect429(await guess(address, c!, wrongCode()), '1');
    expect429(await passwordLogin('127.0.2.3'), '1');
    expect(checks()).toBe(limits.maxFailures);
    expect(await auditEvents(gw, 'mfa_failed')).toHaveLength(limits.maxFailures);
    const throttled = await auditEvents(gw, 'login_throttled');
    expect(throttled.map((e) => [e.user, e.detail.scope, e.detail.endpoint])).toEqual([['alice', 'account', 'auth.mfa.verify']]);

    // The wait is not a lock, and the refused right code was never spent: after Retry-After it works.
    gw.clock.advance(1000);
    const ok = await guess(address, c!, rightCode());
    expect(ok.status).toBe(200);
    expect(checks()).toBe(limits.maxFailures + 1);
  });

  it('recovery-code guesses count as failures for the account too', async () => {
    const address = '127.0.3.1';
    const [a, b] = [await pendingSession(address), await pendingSession(address)];
    for (const session of [a, a, a, b, b]) {
      const reply = await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: session!, body: { recoveryCode: 'ZZZZZ-ZZZZZ-ZZZZZ' }, dispatcher: client(address) });
      expect(reply.status).toBe(400);
    }
    expect429(await guess(address, b!, rightCode()), '1');
    expect(checks()).toBe(0);
  });

  it('logging in again between guesses does not wipe out the code failures: the sixth guess waits', async () => {
    const address = '127.0.4.1';
    const first = await pendingSession(address);
    for (let i = 0; i < limits.maxFailures - 1; i += 1) expect((await guess(address, first, wrongCode())).status).toBe(400);
    // The attacker has the password, so a fresh password step is always theirs to take…
    const second = await pendingSession(address);
    expect((await guess(address, second, wrongCode())).status).toBe(400);
    // …but five wrong codes have now been tried for this account: the next attempt must wait.
    const sixth = await guess(address, second, rightCode());
    expect(sixth.status, `after ${checks()} code checks the sixth attempt answered ${sixth.status}`).toBe(429);
    expect(checks()).toBe(limits.maxFailures);
  });

  it('1,000 guesses spread over 50 pending sessions opened beforehand (10 addresses, in parallel): maxFailures code checks', async () => {
    const addresses = Array.from({ length: 10 }, (_, i) => `127.0.5.${i + 1}`);
    const sessions = await Promise.all(Array.from({ length: 50 }, async (_, i) => ({ address: addresses[i % 10]!, cookie: await pendingSession(addresses[i % 10]!) })));
    const replies: Reply[] = [];
    for (let round = 0; round < 20; round += 1) {
      replies.push(...await Promise.all(sessions.map((s) => guess(s.address, s.cookie, wrongCode()))));
    }
    expect(replies).toHaveLength(1000);
    expect(checks()).toBe(limits.maxFailures);
    expect(tally(replies.map((r) => r.status))).toEqual({ 400: limits.maxFailures, 429: 1000 - limits.maxFailures });
  });

  it('1,000 guesses by an attacker who logs in again every four guesses, from 50 addresses in turn: still no more than maxFailures code checks', { timeout: 90_000 }, async () => {
    const addresses = Array.from({ length: 50 }, (_, i) => `127.0.6.${i + 1}`);
    const perAddress = 1000 / addresses.length;
    const statuses: number[] = [];
    const attack = async (address: string): Promise<void> => {
      let pending: string | null = null;
      for (let i = 0; i < perAddress; i += 1) {
        if (i % (limits.maxFailures - 1) === 0) {
          const fresh = await passwordLogin(address);
          if (fresh.status === 200) pending = fresh.cookie!;
        }
        if (pending === null) {
          statuses.push(429);
          continue;
        }
        const reply = await guess(address, pending, wrongCode());
        statuses.push(reply.status);
        if (reply.status === 401) pending = null;
      }
    };
    // One address after another: in parallel the attackers' failures would pile up between two of
    // their logins and trip the back-off, so a patient attacker goes one at a time.
    for (const address of addresses) await attack(address);

    expect(statuses).toHaveLength(1000);
    const counted = checks();
    expect(counted, `${counted} of 1,000 guessed codes were checked (statuses ${JSON.stringify(tally(statuses))})`).toBeLessThanOrEqual(limits.maxFailures);
  });

  it('a 6-digit space cannot be searched: an attacker who waits out every Retry-After for a simulated day gets too few checks to reach even odds within a year', async () => {
    // Best play from one address: re-login every four wrong codes (a pending session ends at five),
    // and wait exactly as long as told whenever refused.
    const address = '127.0.7.1';
    const start = gw.clock.now();
    const day = 24 * 3_600_000;
    // Checks needed for a 50 % chance when each check hits with probability ≤ 3/10^6.
    const forEvenOdds = Math.ceil(Math.log(0.5) / Math.log(1 - validAtOnce / 1_000_000));
    const budgetPerDay = forEvenOdds / 365;
    let pending: string | null = null;
    let inSession = 0;
    let requests = 0;
    const wait = (reply: Reply): void => {
      gw.clock.advance(Number(reply.headers['retry-after']) * 1000);
    };
    while (gw.clock.now() - start < day && checks() <= budgetPerDay && requests < 5000) {
      requests += 1;
      if (pending === null || inSession === limits.maxFailures - 1) {
        const fresh = await passwordLogin(address);
        if (fresh.status === 429) {
          wait(fresh);
          continue;
        }
        expect(fresh.status).toBe(200);
        pending = fresh.cookie!;
        inSession = 0;
        continue;
      }
      const reply = await guess(address, pending, wrongCode());
      if (reply.status === 429) wait(reply);
      else if (reply.status === 401) pending = null;
      else {
        expect(reply.status).toBe(400);
        inSession += 1;
      }
    }
    const elapsedDays = (gw.clock.now() - start) / day;
    const perDay = checks() / Math.max(elapsedDays, 1 / 1440);
    const daysToEvenOdds = forEvenOdds / perDay;
    expect(
      daysToEvenOdds,
      `${checks()} codes checked in ${(elapsedDays * 24).toFixed(2)} simulated hours (${Math.round(perDay)} a day): even odds in ${daysToEvenOdds.toFixed(1)} days`,
    ).toBeGreaterThanOrEqual(365);
  });
});
