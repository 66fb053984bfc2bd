import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { startSecondGateway, type SecondGateway } from '../helpers/second-gateway.js';
import { totpCode } from '../helpers/totp.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Recovery-code reuse: a recovery code (printed, stored in a password manager, photographed) is a
 * bearer second factor. SPEC §4.5: it is stored hashed and works once. The attacks: use it twice,
 * use it twice at the same instant, use it under another spelling, use one user's code for
 * another, and read codes out of a stolen database (OWASP MFA Cheat Sheet, "Recovery codes";
 * NIST SP 800-63B §5.1.2.2: look-up secrets are stored salted-and-hashed or with enough entropy,
 * and each is used once).
 *
 * The login throttle is opened wide so every refusal below is the once-only check speaking.
 */

const openThrottle = { maxFailures: 1000, backoff: '1s', maxBackoff: '15m', perIp: { max: 10_000, per: '5m' } };
const shape = /^[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}$/;

const codes = new Map<string, string[]>();

const env = useGateway({ users: ['alice', 'bob', 'carol'].map((name) => ({ name })), config: { login: openThrottle } });
beforeAll(async () => {
  for (const name of ['alice', 'bob', 'carol']) codes.set(name, await enrol(name));
});

/** Enrols TOTP through the API and returns the ten recovery codes, shown this once. */
async function enrol(name: string): Promise<string[]> {
  const cookie = await login(env.gw.url, name);
  const setup = await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} });
  const { secret } = setup.json() as { secret: string };
  const confirm = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(secret, env.gw.clock.now()) } });
  expect(confirm.status).toBe(200);
  const issued = confirm.json().recoveryCodes as string[];
  expect(issued).toHaveLength(10);
  for (const code of issued) expect(code).toMatch(shape);
  return issued;
}

/** The n-th recovery code of a user; each test takes codes no other test uses. */
function codeOf(name: string, n: number): string {
  return codes.get(name)![n]!;
}

async function passwordStep(name: string, base: string = env.gw.url): Promise<string> {
  const reply = await call(base, '/auth/login', { method: 'POST', body: { username: name, password: PASSWORD } });
  expect(reply.status).toBe(200);
  expect(reply.json().mfaRequired).toBe(true);
  return reply.cookie!;
}

function useCode(pending: string, recoveryCode: string, base: string = env.gw.url): Promise<Reply> {
  return call(base, '/auth/mfa/verify', { method: 'POST', session: pending, body: { recoveryCode } });
}

function expectRefused(reply: Reply, label?: string): void {
  expect([reply.status, reply.json().error.code], label).toEqual([400, 'invalid_code']);
  expect(reply.cookie, label).toBeUndefined();
}

async function stillPending(cookie: string): Promise<boolean> {
  const reply = await call(env.gw.url, '/api/x', { session: cookie });
  return reply.status === 401 && reply.json().error.code === 'mfa_required';
}

async function unusedCodes(name: string): Promise<number> {
  return env.gw.gateway.services.totp.remainingRecoveryCodes(name);
}

/** Every byte of the database: the main file, and the WAL and shared-memory files beside it. */
function databaseBytes(): Buffer {
  const files = readdirSync(env.gw.dir).filter((file) => file.startsWith('gatehouse.db'));
  expect(files).toContain('gatehouse.db');
  return Buffer.concat(files.map((file) => readFileSync(join(env.gw.dir, file))));
}

function tally(values: readonly (string | number)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

describe('recovery-code reuse', () => {
  it('a code works once: a second pending session is refused it and stays pending; the other codes still work', async () => {
    const code = codeOf('alice', 0);
    const first = await useCode(await passwordStep('alice'), code);
    expect(first.status).toBe(200);
    expect(first.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await unusedCodes('alice')).toBe(9);

    const second = await passwordStep('alice');
    expectRefused(await useCode(second, code));
    expect(await stillPending(second)).toBe(true);
    expect(await unusedCodes('alice')).toBe(9);
    expect((await useCode(second, codeOf('alice', 1))).status).toBe(200);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a spent code is refused under every other spelling of it too', async () => {
    const code = codeOf('alice', 2);
    expect((await useCode(await passwordStep('alice'), code)).status).toBe(200);
    const compact = code.replace(/-/g, '');
    const respellings = [code.toLowerCase(), compact, compact.toLowerCase(), code.replace(/-/g, ' '), ` ${code} `, code.replace(/0/g, 'O').replace(/1/g, 'I')];
    for (const spelling of respellings) expectRefused(await useCode(await passwordStep('alice'), spelling), spelling);
  });

  it('10 pending sessions present the same code in parallel: exactly one succeeds', async () => {
    const code = codeOf('alice', 3);
    const pendings = await Promise.all(Array.from({ length: 10 }, () => passwordStep('alice')));
    const remaining = await unusedCodes('alice');
    const replies = await Promise.all(pendings.map((pending) => useCode(pending, code)));
    expect(tally(replies.map((r) => r.status))).toEqual({ 200: 1, 400: 9 });
    for (const reply of replies.filter((r) => r.status !== 200)) expectRefused(reply);
    expect(await unusedCodes('alice')).toBe(remaining - 1);
    for (const [i, pending] of pendings.entries()) if (replies[i]!.status !== 200) expect(await stillPending(pending)).toBe(true);
  });

  it('one pending session presents the same code 10 times in parallel: one full session comes out', async () => {
    const code = codeOf('alice', 4);
    const pending = await passwordStep('alice');
    const replies = await Promise.all(Array.from({ length: 10 }, () => useCode(pending, code)));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    for (const reply of replies.filter((r) => r.status !== 200)) {
      expect([[400, 'invalid_code'], [401, 'unauthenticated']]).toContainEqual([reply.status, reply.json().error.code]);
    }
  });

  it('two gateway instances on one SQLite file, 10 parallel uses of one code split between them: exactly one succeeds', async () => {
    const second: SecondGateway = await startSecondGateway(env.gw);
    try {
      const code = codeOf('alice', 5);
      const bases = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? env.gw.url : second.url));
      const pendings = await Promise.all(bases.map((base) => passwordStep('alice', base)));
      const replies = await Promise.all(pendings.map((pending, i) => useCode(pending, code, bases[i])));
      expect(tally(replies.map((r) => r.status))).toEqual({ 200: 1, 400: 9 });
    } finally {
      await second.close();
    }
  });

  it("a code of one user does not work for another, and the attempt does not spend the owner's code", async () => {
    const alices = codeOf('alice', 6);
    const bobs = await passwordStep('bob');
    expectRefused(await useCode(bobs, alices));
    expect(await stillPending(bobs)).toBe(true);
    expect((await useCode(await passwordStep('alice'), alices)).status).toBe(200);
    // And the reverse, with a code bob has never used.
    expectRefused(await useCode(await passwordStep('alice'), codeOf('bob', 0)));
    expect((await useCode(bobs, codeOf('bob', 0))).status).toBe(200);
  });

  it('normalisation: lower case, no dashes and spaces are the same code; an altered code is not, and does not spend the original', async () => {
    const [lower, compact, spaced] = [codeOf('bob', 1), codeOf('bob', 2), codeOf('bob', 3)];
    expect((await useCode(await passwordStep('bob'), lower.toLowerCase())).status).toBe(200);
    expect((await useCode(await passwordStep('bob'), compact.replace(/-/g, ''))).status).toBe(200);
    expect((await useCode(await passwordStep('bob'), spaced.replace(/-/g, ' '))).status).toBe(200);

    const original = codeOf('bob', 4);
    const symbols = original.replace(/-/g, '');
    const changeOne = (i: number): string => {
      const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
      const next = alphabet[(alphabet.indexOf(symbols[i]!) + 1) % alphabet.length]!;
      return `${symbols.slice(0, i)}${next}${symbols.slice(i + 1)}`;
    };
    const altered = [
      changeOne(0),
      changeOne(7),
      changeOne(14),
      symbols.slice(0, 14),
      `${symbols}0`,
      `${symbols.slice(5, 10)}${symbols.slice(0, 5)}${symbols.slice(10)}`,
      `${symbols.slice(1)}${symbols[0]}`,
    ].filter((candidate) => candidate !== symbols);
    const pending = await passwordStep('bob');
    const before = await unusedCodes('bob');
    // Four at a time: the fifth wrong code would end the pending session (SPEC §4.5).
    for (const [i, candidate] of altered.entries()) {
      const session = i < 4 ? pending : await passwordStep('bob');
      expectRefused(await useCode(session, candidate), candidate);
    }
    expect(await unusedCodes('bob')).toBe(before);
    expect((await useCode(pending, original)).status).toBe(200);
  });

  it('a session with nothing due cannot spend (or test) a code at /auth/mfa/verify', async () => {
    const full = (await useCode(await passwordStep('carol'), codeOf('carol', 0))).cookie!;
    const remaining = await unusedCodes('carol');
    const reply = await useCode(full, codeOf('carol', 1));
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).not.toBe('invalid_code');
    expect(await unusedCodes('carol')).toBe(remaining);
    expect((await useCode(await passwordStep('carol'), codeOf('carol', 1))).status).toBe(200);
  });

  it('codes of a replaced enrolment stop working', async () => {
    const old = codeOf('carol', 2);
    await env.gw.gateway.services.totp.disable('carol', { user: 'test' });
    codes.set('carol', await enrol('carol'));
    expectRefused(await useCode(await passwordStep('carol'), old));
    expect((await useCode(await passwordStep('carol'), codeOf('carol', 0))).status).toBe(200);
  });

  it('codes are stored hashed: none appears in the SQLite file in any spelling or common encoding, used or not', () => {
    const bytes = databaseBytes();
    const all = [...codes.values()].flat();
    expect(all.length).toBe(30);
    for (const code of all) {
      const compact = code.replace(/-/g, '');
      for (const form of [code, compact, code.toLowerCase(), compact.toLowerCase()]) {
        for (const encoded of [Buffer.from(form, 'utf8'), Buffer.from(form, 'utf16le'), Buffer.from(Buffer.from(form).toString('base64').replace(/=+$/, ''))]) {
          expect(bytes.includes(encoded), `${form} (${encoded.length} bytes)`).toBe(false);
        }
      }
    }

    // What the table does hold: one fixed-length digest per code, none of them a code.
    const db = new Database(join(env.gw.dir, 'gatehouse.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT user_name, code_hash, used_at FROM recovery_codes').all() as { user_name: string; code_hash: string; used_at: number | null }[];
      expect(rows).toHaveLength(30);
      expect(tally(rows.map((r) => r.user_name))).toEqual({ alice: 10, bob: 10, carol: 10 });
      const forms = new Set(all.flatMap((code) => [code, code.replace(/-/g, ''), code.toLowerCase()]));
      for (const row of rows) {
        expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(forms.has(row.code_hash)).toBe(false);
      }
      // Spent codes stay in the table (so a replay is recognised) and are as opaque as unspent ones.
      expect(rows.some((r) => r.used_at !== null)).toBe(true);
    } finally {
      db.close();
    }
  });
});
