import { beforeAll, describe, expect, it, vi } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, type Reply } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * User enumeration: telling from the login answer — its status, body, headers or the time it takes
 * — whether an account exists or is locked, to aim password guessing (OWASP Authentication Cheat
 * Sheet, "Authentication and Error Messages"). SPEC §4.1: the same body, and similar time, for an
 * unknown user, a wrong password and a locked user.
 *
 * The time is similar only if an unknown user costs an argon2 verification too (against a dummy
 * hash). No dependency of AccountService computes hashes (it calls the password module), so the
 * verification is observed two ways: by counting calls into the argon2 binding (a pass-through
 * wrapper, the real hash still runs), and by a timing ratio measured within this one run.
 */

const argon2 = vi.hoisted(() => ({ verifyCalls: 0 }));
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const original = await importOriginal<typeof import('@node-rs/argon2')>();
  return {
    ...original,
    verify: (...args: Parameters<typeof original.verify>) => {
      argon2.verifyCalls += 1;
      return original.verify(...args);
    },
  };
});

const env = useGateway({
  users: [{ name: 'alice' }, { name: 'dave' }],
  // The timing test makes many failed attempts; throttling must not answer them early.
  config: { login: { maxFailures: 1000, perIp: { max: 1000, per: '5m' } } },
});
beforeAll(async () => {
  await env.gw.gateway.services.accounts.lock('dave', { user: 'test' });
});

const attempts: Record<string, { username: string; password: string }> = {
  'unknown user': { username: 'nobody-here', password: PASSWORD },
  'wrong password': { username: 'alice', password: 'not the right password' },
  'locked user, right password': { username: 'dave', password: PASSWORD },
  'locked user, wrong password': { username: 'dave', password: 'not the right password' },
  'user name that cannot exist': { username: 'no such user!', password: PASSWORD },
  'password over the maximum length': { username: 'alice', password: 'x'.repeat(1025) },
  'empty password': { username: 'alice', password: '' },
  'user name differing only in case': { username: 'Alice', password: PASSWORD },
};

async function attempt(username: string, password: string): Promise<Reply> {
  return call(env.gw.url, '/auth/login', { method: 'POST', body: { username, password } });
}

/** The response minus what legitimately differs per request (its id and date). */
function fingerprint(reply: Reply): unknown {
  const { 'x-request-id': _id, date: _date, ...headers } = reply.headers;
  return { status: reply.status, body: reply.text, headers };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('user enumeration', () => {
  it('every kind of failed login gets the same status, body and headers, and no cookie', async () => {
    const expected = fingerprint(await attempt('alice', 'not the right password'));
    expect(expected).toMatchObject({ status: 401, body: JSON.stringify({ error: { code: 'invalid_credentials', message: 'The user name or password is wrong.' } }) });
    for (const [label, { username, password }] of Object.entries(attempts)) {
      const reply = await attempt(username, password);
      expect(fingerprint(reply), label).toEqual(expected);
      expect(reply.setCookie, label).toEqual([]);
    }
  });

  it('exactly one argon2 verification runs for every kind of failed login, unknown users included', async () => {
    // The right password for a known user, to show what one verification looks like.
    argon2.verifyCalls = 0;
    expect((await attempt('alice', PASSWORD)).status).toBe(200);
    expect(argon2.verifyCalls).toBe(1);
    for (const [label, { username, password }] of Object.entries(attempts)) {
      argon2.verifyCalls = 0;
      expect((await attempt(username, password)).status, label).toBe(401);
      expect(argon2.verifyCalls, label).toBe(1);
    }
  });

  it('timing: an unknown user takes at least half as long as a known one (a hash is computed), measured as a ratio in one run', async () => {
    const samples = 15;
    const times: Record<'unknown' | 'wrong' | 'locked', number[]> = { unknown: [], wrong: [], locked: [] };
    const timed = async (username: string, password: string): Promise<number> => {
      const start = performance.now();
      const reply = await attempt(username, password);
      const elapsed = performance.now() - start;
      expect(reply.status).toBe(401);
      return elapsed;
    };
    await timed('warm-up', PASSWORD);
    // Interleaved, so that load from anything else running shifts all three alike.
    for (let i = 0; i < samples; i++) {
      times.unknown.push(await timed(`ghost-${i}`, PASSWORD));
      times.wrong.push(await timed('alice', `wrong password number ${i}`));
      times.locked.push(await timed('dave', PASSWORD));
    }
    const known = median(times.wrong);
    expect(median(times.unknown) / known, `medians: ${JSON.stringify({ unknown: median(times.unknown), wrong: known, locked: median(times.locked) })}`).toBeGreaterThanOrEqual(0.5);
    expect(median(times.locked) / known).toBeGreaterThanOrEqual(0.5);
  });

  it('a wrong current password on /auth/password does not reveal more than a login does', async () => {
    const cookie = (await attempt('alice', PASSWORD)).cookie!;
    const reply = await call(env.gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: 'not the right password', newPassword: 'some new passphrase' } });
    expect(reply.status).toBe(401);
    expect(reply.json()).toEqual({ error: { code: 'invalid_credentials', message: 'The user name or password is wrong.' } });
  });
});
