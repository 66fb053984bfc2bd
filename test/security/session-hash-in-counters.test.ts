import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Reading the shared counters to get at sessions. With several nodes the counters live in Redis
 * (SPEC §8), a cache that operators dump, replicate and monitor, and whose every key and value must
 * be free of cookie values (SPEC §8, "Nothing secret in Redis"). A session's id hash is no better:
 * it is the key the session store finds the session by, and an unsalted SHA-256 of the cookie, so
 * a leaked key ties a counter to one live cookie. The wrong-MFA-code count is the one counter kept
 * per session; it must be keyed by the session's non-secret handle.
 *
 * `workers: 2` puts the counters in the shared SQLite file, which the attacker reads here as they
 * would read Redis: every key of every counter.
 */
let upstream: TestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'alice' }], config: { server: { host: '127.0.0.1', port: 0, publicOrigin: 'http://localhost:8080', workers: 2 } } });
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});

function counterKeys(): string[] {
  const db = new Database(join(gw.dir, 'gatehouse.db'), { readonly: true });
  try {
    return db.prepare('SELECT key FROM counter_windows UNION ALL SELECT key FROM counter_blocks').pluck().all() as string[];
  } finally {
    db.close();
  }
}

describe('the session in the shared counters', () => {
  it('a wrong MFA code is counted by the session handle, never by the cookie or its hash', async () => {
    const login = () => call(gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } });
    const first = (await login()).cookie!;
    const secret = (await call(gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: first, body: {} })).json().secret as string;
    expect((await call(gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: first, body: { code: totpCode(secret, gw.clock.now()) } })).status).toBe(200);
    const pending = (await login()).cookie!;
    const valid = new Set([-1, 0, 1].map((steps) => totpCode(secret, gw.clock.now(), steps)));
    const wrong = ['000000', '111111'].find((code) => !valid.has(code))!;
    const reply = await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: wrong } });
    expect(reply.json().error.code).toBe('invalid_code');

    const keys = counterKeys();
    const handles = (await gw.gateway.services.store.sessions.list({ userName: 'alice' })).map((s) => s.handle);
    expect(keys.filter((k) => k.startsWith('mfa-wrong:'))).toEqual([expect.stringMatching(new RegExp(`^mfa-wrong:(${handles.join('|')})$`))]);
    for (const cookie of [first, pending]) {
      for (const key of keys) {
        expect(key).not.toContain(cookie);
        expect(key).not.toContain(sha256Hex(cookie));
      }
    }
  });
});
