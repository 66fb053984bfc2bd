import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { startSecondGateway, type SecondGateway } from '../helpers/second-gateway.js';
import { totpCode } from '../helpers/totp.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * TOTP code replay: a code read over the victim's shoulder, phished by a relay page, or sniffed
 * from a log is used a second time — after the victim, in parallel with the victim, or at another
 * gateway instance sharing the store. RFC 6238 §5.2: "the verifier MUST NOT accept the second
 * attempt of the OTP after the successful validation has been issued for the first OTP". SPEC §4.5:
 * a TOTP code is accepted once (a replay within its window is refused).
 *
 * The login throttle is opened wide here so that every refusal below is the replay protection
 * speaking, not the throttle (which totp-brute-force.test.ts attacks).
 */

const openThrottle = { maxFailures: 1000, backoff: '1s', maxBackoff: '15m', perIp: { max: 10_000, per: '5m' } };
const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];

const env = useGateway({ users: users.map((name) => ({ name })), config: { login: openThrottle } });

/**
 * Enrols TOTP through the API. The confirming code is the previous step's, so the current step is
 * left for the test; then the clock moves two steps on, so every test starts on a clean step.
 */
async function enrol(name: string): Promise<string> {
  const cookie = await login(env.gw.url, name);
  const setup = await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} });
  expect(setup.status).toBe(200);
  const { secret } = setup.json() as { secret: string };
  const confirm = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(secret, env.gw.clock.now(), -1) } });
  expect(confirm.status).toBe(200);
  env.gw.clock.advance(60_000);
  return secret;
}

/** The password step at `base`: a pending session. */
async function passwordStep(name: string, base: string = env.gw.url): Promise<string> {
  const reply = await call(base, '/auth/login', { method: 'POST', body: { username: name, password: PASSWORD } });
  expect(reply.status).toBe(200);
  expect(reply.json().mfaRequired).toBe(true);
  return reply.cookie!;
}

function verify(pending: string, code: string, base: string = env.gw.url): Promise<Reply> {
  return call(base, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code } });
}

function expectInvalidCode(reply: Reply, label?: string): void {
  expect([reply.status, reply.json().error.code], label).toEqual([400, 'invalid_code']);
  expect(reply.cookie, label).toBeUndefined();
}

/** Whether a cookie still opens a pending (not a full) session: the API answers 401 mfa_required. */
async function stillPending(cookie: string, base: string = env.gw.url): Promise<boolean> {
  const reply = await call(base, '/api/x', { session: cookie });
  return reply.status === 401 && reply.json().error.code === 'mfa_required';
}

/** Sessions of a user in the store that have completed the second factor. */
async function fullSessions(name: string): Promise<number> {
  return (await env.gw.gateway.services.store.sessions.list({ userName: name })).filter((s) => s.mfaCompleted && !s.mfaPending).length;
}

function tally(values: readonly (string | number)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

describe('TOTP replay', () => {
  it('a code that completed a login is refused afterwards: on the dead pending id, on the session it opened, and in a second pending session', async () => {
    const secret = await enrol('alice');
    const code = totpCode(secret, env.gw.clock.now());
    const pending = await passwordStep('alice');
    const before = await fullSessions('alice');
    const ok = await verify(pending, code);
    expect(ok.status).toBe(200);
    const full = ok.cookie!;

    // The same session, after success: its pending id is gone, and the full session has nothing due.
    const onOld = await verify(pending, code);
    expect([onOld.status, onOld.json().error.code]).toEqual([401, 'unauthenticated']);
    const onFull = await verify(full, code);
    expect(onFull.status).toBe(400);
    expect(onFull.cookie).toBeUndefined();
    expect(await fullSessions('alice')).toBe(before + 1);

    // A second pending session (the attacker who also has the password) is refused the same code…
    const second = await passwordStep('alice');
    expectInvalidCode(await verify(second, code));
    expect(await stillPending(second)).toBe(true);
    expect(await fullSessions('alice')).toBe(before + 1);
    // …while the session itself works: a code not yet used (the next step's, within the drift window) is accepted.
    const next = await verify(second, totpCode(secret, env.gw.clock.now(), 1));
    expect(next.status).toBe(200);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a replay later in the same time step, and in the following step (still inside the drift window), is refused', async () => {
    const secret = await enrol('bob');
    const code = totpCode(secret, env.gw.clock.now());
    expect((await verify(await passwordStep('bob'), code)).status).toBe(200);
    env.gw.clock.advance(20_000);
    expectInvalidCode(await verify(await passwordStep('bob'), code), 'same step');
    env.gw.clock.advance(30_000);
    // Now the code is the previous step's: one step of drift is accepted for a fresh code, never for a used one.
    expectInvalidCode(await verify(await passwordStep('bob'), code), 'next step');
  });

  it('an older code still inside the drift window is refused once a newer one was used (steps only move forward)', async () => {
    const secret = await enrol('carol');
    const now = env.gw.clock.now();
    expect((await verify(await passwordStep('carol'), totpCode(secret, now))).status).toBe(200);
    expectInvalidCode(await verify(await passwordStep('carol'), totpCode(secret, now, -1)));
    // Control: the next, unused step still works, so the refusal above was about order, not the session.
    expect((await verify(await passwordStep('carol'), totpCode(secret, now, 1))).status).toBe(200);
  });

  it('the code that confirmed the enrolment cannot be replayed to log in', async () => {
    const cookie = await login(env.gw.url, 'dave');
    const { secret } = (await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} })).json() as { secret: string };
    const code = totpCode(secret, env.gw.clock.now());
    expect((await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code } })).status).toBe(200);
    expectInvalidCode(await verify(await passwordStep('dave'), code));
  });

  it('10 pending sessions send the same code in parallel: exactly one succeeds', async () => {
    const secret = await enrol('erin');
    const code = totpCode(secret, env.gw.clock.now());
    const pendings = await Promise.all(Array.from({ length: 10 }, () => passwordStep('erin')));
    expect(new Set(pendings).size).toBe(10);
    const before = await fullSessions('erin');
    const replies = await Promise.all(pendings.map((pending) => verify(pending, code)));

    expect(tally(replies.map((r) => r.status))).toEqual({ 200: 1, 400: 9 });
    for (const reply of replies.filter((r) => r.status === 400)) expectInvalidCode(reply);
    expect(replies.filter((r) => typeof r.cookie === 'string')).toHaveLength(1);
    expect(await fullSessions('erin')).toBe(before + 1);
    const losers = pendings.filter((_, i) => replies[i]!.status !== 200);
    for (const loser of losers) expect(await stillPending(loser)).toBe(true);
  });

  it('one pending session sends the same code 10 times in parallel: one full session comes out, not ten', async () => {
    const secret = await enrol('frank');
    const code = totpCode(secret, env.gw.clock.now());
    const pending = await passwordStep('frank');
    const before = await fullSessions('frank');
    const replies = await Promise.all(Array.from({ length: 10 }, () => verify(pending, code)));

    // Two layers hold here, either one enough: the step is consumed once, and the pending id is
    // gone from the store once rotated, so a request that arrives after the winner is 401.
    const ok = replies.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const reply of replies.filter((r) => r.status !== 200)) {
      expect([[400, 'invalid_code'], [401, 'unauthenticated']]).toContainEqual([reply.status, reply.json().error.code]);
    }
    expect(await fullSessions('frank')).toBe(before + 1);
    expect(await env.gw.gateway.services.store.sessions.get(sha256Hex(pending))).toBeNull();
  });
});

/**
 * Two gateways on one store, as with `server.workers` or two hosts on a shared volume. The second
 * instance runs in this process (test/helpers/second-gateway.ts) but has its own SQLite connection,
 * services, in-memory counters and login-throttle locks, so nothing but the store is shared: the
 * in-process serialisation of the throttle cannot hide a read-then-write race here.
 */
describe('TOTP replay across two gateway instances sharing one SQLite file', () => {
  let second: SecondGateway;

  beforeAll(async () => {
    second = await startSecondGateway(env.gw);
  });
  afterAll(async () => {
    await second.close();
  });

  it('a code accepted by one instance is refused by the other, in either direction', async () => {
    const secret = await enrol('grace');
    expect(second.url).not.toBe(env.gw.url);

    const code = totpCode(secret, env.gw.clock.now());
    const atFirst = await passwordStep('grace', env.gw.url);
    const atSecond = await passwordStep('grace', second.url);
    expect((await verify(atFirst, code, env.gw.url)).status).toBe(200);
    const replayed = await verify(atSecond, code, second.url);
    expectInvalidCode(replayed);
    expect(await stillPending(atSecond, second.url)).toBe(true);

    env.gw.clock.advance(60_000);
    const later = totpCode(secret, env.gw.clock.now());
    const again = await passwordStep('grace', env.gw.url);
    expect((await verify(atSecond, later, second.url)).status).toBe(200);
    expectInvalidCode(await verify(again, later, env.gw.url));
  });

  it('10 pending sessions split between the two instances send the same code in parallel: exactly one accepts', async () => {
    env.gw.clock.advance(60_000);
    const { secret } = await reEnrol('grace');
    const code = totpCode(secret, env.gw.clock.now());
    const bases = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? env.gw.url : second.url));
    const pendings = await Promise.all(bases.map((base) => passwordStep('grace', base)));
    const before = await fullSessions('grace');
    const replies = await Promise.all(pendings.map((pending, i) => verify(pending, code, bases[i])));

    expect(tally(replies.map((r) => r.status))).toEqual({ 200: 1, 400: 9 });
    for (const reply of replies.filter((r) => r.status === 400)) expectInvalidCode(reply);
    expect(await fullSessions('grace')).toBe(before + 1);
  });
});

/** Removes TOTP (as `DELETE /auth/mfa/totp` would) and enrols a fresh secret with a fresh step history. */
async function reEnrol(name: string): Promise<{ secret: string }> {
  await env.gw.gateway.services.totp.disable(name, { user: 'test' });
  return { secret: await enrol(name) };
}
