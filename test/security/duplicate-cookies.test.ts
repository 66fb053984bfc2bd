import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { rawExchange } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Duplicate session cookies (cookie tossing): a sibling subdomain, or a cookie with a longer Path,
 * plants a second `gatehouse` cookie that the browser sends alongside the real one. Which of the two
 * a server reads first depends on its cookie parser; Gatehouse trusts neither (SPEC §4.2: two cookies
 * with the session cookie's name in one request → 401).
 */

let alice: string;
let bob: string;
const invalid = 'Zm9yZ2VkLWJ5LWEtc2libGluZy1zdWJkb21haW4tMTIz'.slice(0, 43);

const env = useGateway({ users: [{ name: 'alice' }, { name: 'bob' }] });
beforeAll(async () => {
  alice = await login(env.gw.url, 'alice');
  bob = await login(env.gw.url, 'bob');
});

const oneHeader: Record<string, () => string> = {
  'valid then invalid': () => `gatehouse=${alice}; gatehouse=${invalid}`,
  'invalid then valid': () => `gatehouse=${invalid}; gatehouse=${alice}`,
  'the same valid value twice': () => `gatehouse=${alice}; gatehouse=${alice}`,
  'two valid sessions of different users': () => `gatehouse=${alice}; gatehouse=${bob}`,
  'without a space after ";"': () => `gatehouse=${alice};gatehouse=${invalid}`,
  'with other cookies between them': () => `theme=dark; gatehouse=${alice}; lang=en; gatehouse=${invalid}`,
  'with whitespace around the name': () => `gatehouse=${alice}; \tgatehouse =${invalid}`,
  'an empty second value': () => `gatehouse=${alice}; gatehouse=`,
};

describe('duplicate session cookies', () => {
  it('each session works on its own (so the refusals below are about the duplication)', async () => {
    expect((await call(env.gw.url, '/auth/session', { session: alice })).status).toBe(200);
    expect((await call(env.gw.url, '/auth/session', { session: bob })).status).toBe(200);
  });

  it('two gatehouse= cookies in one Cookie header: 401, the cookie cleared, nothing forwarded', async () => {
    for (const [label, header] of Object.entries(oneHeader)) {
      for (const path of ['/auth/session', '/api/me']) {
        const reply = await call(env.gw.url, path, { headers: { cookie: header() } });
        expect(reply.status, `${label} on ${path}`).toBe(401);
        expect(reply.json().error.code).toBe('unauthenticated');
        expect(reply.cookie, `${label} on ${path}`).toBeNull();
      }
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('two Cookie header lines, each with one gatehouse= cookie: 401, nothing forwarded', async () => {
    const pairs: [string, string][] = [[alice, invalid], [invalid, alice], [alice, alice], [alice, bob]];
    for (const [first, second] of pairs) {
      for (const path of ['/auth/session', '/api/me']) {
        const raw = await rawExchange(env.gw.gateway.port, [
          `GET ${path} HTTP/1.1\r\nHost: localhost:8080\r\nX-CSRF: 1\r\n`,
          `Cookie: gatehouse=${first}\r\nCookie: gatehouse=${second}\r\nConnection: close\r\n\r\n`,
        ]);
        expect(raw.statuses, path).toEqual([401]);
        expect(raw.text).toContain('"unauthenticated"');
      }
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a duplicate on a state-changing request does not act on either session', async () => {
    const reply = await call(env.gw.url, '/auth/password', {
      method: 'POST',
      headers: { cookie: `gatehouse=${invalid}; gatehouse=${alice}` },
      body: { currentPassword: PASSWORD, newPassword: 'attacker chosen password' },
    });
    expect(reply.status).toBe(401);
    const stillOld = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } });
    expect(stillOld.status).toBe(200);
  });

  it('logout with a planted second cookie still ends the real session', async () => {
    const victim = await login(env.gw.url, 'bob');
    const reply = await call(env.gw.url, '/auth/logout', { method: 'POST', headers: { cookie: `gatehouse=${invalid}; gatehouse=${victim}` } });
    expect(reply.status).toBe(204);
    expect(reply.cookie).toBeNull();
    expect((await call(env.gw.url, '/auth/session', { session: victim })).status).toBe(401);
  });
});
