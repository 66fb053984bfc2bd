import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { challengeTtlMs } from '../../src/mfa/passkey-service.js';
import type { TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * WebAuthn challenge flood: passkey login options are public, and each request stores a challenge
 * that only a finished ceremony takes back. A client that asks for options and never finishes
 * (a script, a crawler, an attacker filling the disk) leaves a row per request. Issue 4: a challenge
 * is single-use and expires after 5 minutes; issue 10: unused ones are purged by the housekeeping,
 * so a row lives at most its 5 minutes plus one housekeeping round. What a client can store within
 * that time is bounded only by its request rate, unless a `limits` rule caps the options per
 * address, as shown last.
 */

const env = useGateway();

/** The challenges in the gateway's SQLite file, read as an operator would (sqlite3 on the file). */
function storedChallenges(gw: TestGateway): string[] {
  const db = new Database(join(gw.dir, 'gatehouse.db'), { readonly: true });
  try {
    return db.prepare('SELECT challenge FROM webauthn_challenges ORDER BY challenge').pluck().all() as string[];
  } finally {
    db.close();
  }
}

async function loginOptions(gw: TestGateway): Promise<{ status: number; challenge?: string }> {
  const reply = await call(gw.url, '/auth/passkeys/login/options', { method: 'POST', body: {} });
  return { status: reply.status, ...(reply.status === 200 ? { challenge: reply.json().challenge as string } : {}) };
}

describe('WebAuthn challenge flood', () => {
  it('challenges asked for and never used are deleted by the housekeeping once expired; fresh ones stay', async () => {
    const abandoned: string[] = [];
    for (let i = 0; i < 200; i += 1) abandoned.push((await loginOptions(env.gw)).challenge!);
    // A registration begun by a logged-in user and never finished is no different.
    const session = await login(env.gw.url);
    abandoned.push((await call(env.gw.url, '/auth/passkeys/register/options', { method: 'POST', session, body: {} })).json().challenge);
    expect(storedChallenges(env.gw)).toEqual([...abandoned].sort());

    env.gw.clock.advance(challengeTtlMs);
    const fresh = (await loginOptions(env.gw)).challenge!;
    await env.gw.gateway.housekeep();
    expect(storedChallenges(env.gw)).toEqual([fresh]);

    env.gw.clock.advance(challengeTtlMs - 1);
    await env.gw.gateway.housekeep();
    expect(storedChallenges(env.gw), 'one millisecond before it expires').toEqual([fresh]);
    env.gw.clock.advance(1);
    await env.gw.gateway.housekeep();
    expect(storedChallenges(env.gw)).toEqual([]);
  });

  describe('with a limits rule on the login options per address', () => {
    const limited = useGateway({
      config: { limits: [{ name: 'passkey-options', match: '/auth/passkeys/login/options', by: 'ip', max: 20, per: '1m', action: 'reject' }] },
    });

    it('a client flooding the options stores at most `max` challenges per window; the rest are 429 and store nothing', async () => {
      const replies = [];
      for (let i = 0; i < 100; i += 1) replies.push(await loginOptions(limited.gw));
      expect(replies.filter((r) => r.status === 200)).toHaveLength(20);
      expect(replies.filter((r) => r.status === 429)).toHaveLength(80);
      expect(storedChallenges(limited.gw)).toHaveLength(20);
    });
  });
});
