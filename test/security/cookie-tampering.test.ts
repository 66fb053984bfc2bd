import { beforeAll, describe, expect, it } from 'vitest';
import { call, login, type Reply } from '../helpers/http.js';
import { rawExchange, rawHead } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Cookie tampering: a client edits its session cookie hoping that a near-miss, an overlong value or
 * an odd encoding is accepted, or moves the session id somewhere other than the cookie (a URL, a
 * body, a header) where it is easier to plant or leaks more easily (SPEC §4.2).
 */

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

function expectRefusedAndCleared(reply: Reply, label: string): void {
  expect(reply.status, label).toBe(401);
  expect(reply.json().error.code, label).toBe('unauthenticated');
  expect(reply.cookie, `${label}: the cookie is cleared`).toBeNull();
  expect(reply.setCookie.find((c) => c.startsWith('gatehouse=')), label).toMatch(/Max-Age=0/);
}

function flipBit(token: string, index: number): string {
  const bytes = Buffer.from(token, 'base64url');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64url');
}

describe('cookie tampering', () => {
  it('the untampered cookie works (so the refusals below are about the tampering)', async () => {
    expect((await call(env.gw.url, '/auth/session', { session: alice })).status).toBe(200);
    expect((await call(env.gw.url, '/api/me', { session: alice })).status).toBe(200);
  });

  it('modified, truncated, extended and bit-flipped values: 401 and the cookie cleared', async () => {
    const last = alice.at(-1) === 'A' ? 'B' : 'A';
    const variants: Record<string, string> = {
      'last character changed': `${alice.slice(0, -1)}${last}`,
      'first character changed': `${alice[0] === 'A' ? 'B' : 'A'}${alice.slice(1)}`,
      'truncated by one': alice.slice(0, -1),
      'truncated to half': alice.slice(0, 21),
      'extended by one': `${alice}A`,
      'doubled': `${alice}${alice}`,
      'first bit flipped': flipBit(alice, 0),
      'middle bit flipped': flipBit(alice, 16),
      'last byte bit flipped': flipBit(alice, 31),
      'upper-cased': alice.toUpperCase() === alice ? alice.toLowerCase() : alice.toUpperCase(),
      'base64 instead of base64url': Buffer.from(alice, 'base64url').toString('base64'),
      'hex of the same bytes': Buffer.from(alice, 'base64url').toString('hex'),
      'empty': '',
    };
    for (const [label, value] of Object.entries(variants)) {
      expect(value, label).not.toBe(alice);
      expectRefusedAndCleared(await call(env.gw.url, '/auth/session', { session: value }), label);
      expectRefusedAndCleared(await call(env.gw.url, '/api/me', { session: value }), `${label} (proxied)`);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a very long cookie value: 401 and cleared, not an error', async () => {
    const reply = await call(env.gw.url, '/api/me', { session: `${alice}${'A'.repeat(8000)}` });
    expectRefusedAndCleared(reply, 'long');
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('non-ASCII bytes in the cookie: 401 and cleared', async () => {
    for (const value of [`é${alice}`, `${alice.slice(0, 42)}\u00ff`, `${alice}\u00a0`]) {
      const raw = await rawExchange(env.gw.gateway.port, Buffer.from(rawHead('GET /api/me HTTP/1.1', { session: value }), 'latin1'));
      expect(raw.statuses, JSON.stringify(value)).toEqual([401]);
      expect(raw.text).toMatch(/\r\nset-cookie: gatehouse=; Max-Age=0/i);
    }
    // The same as UTF-8 bytes, and percent-encoded.
    const utf8 = await rawExchange(env.gw.gateway.port, Buffer.from(rawHead('GET /api/me HTTP/1.1', { session: `${alice}é` }), 'utf8'));
    expect(utf8.statuses).toEqual([401]);
    expectRefusedAndCleared(await call(env.gw.url, '/api/me', { session: `${alice}%C3%A9` }), 'percent-encoded non-ASCII');
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the right value under another name is not a session', async () => {
    for (const name of ['Gatehouse', 'GATEHOUSE', 'gatehouse2', 'gatehouse_', '__Host-gatehouse', '__Secure-gatehouse', 'session', 'sid', 'gatehouse.sid']) {
      const reply = await call(env.gw.url, '/api/me', { headers: { cookie: `${name}=${alice}` } });
      expect(reply.status, name).toBe(401);
      expect(reply.json().error.code).toBe('unauthenticated');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the session id is never accepted from the query string', async () => {
    for (const query of [`gatehouse=${alice}`, `session=${alice}`, `sid=${alice}`, `token=${alice}`, `__Host-gatehouse=${alice}`]) {
      const reply = await call(env.gw.url, `/api/me?${query}`);
      expect(reply.status, query).toBe(401);
      expect((await call(env.gw.url, `/auth/session?${query}`)).status, query).toBe(401);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the session id is never accepted from a request body', async () => {
    const bodies: [string, string][] = [
      [JSON.stringify({ gatehouse: alice }), 'application/json'],
      [JSON.stringify({ session: alice, sessionId: alice, token: alice }), 'application/json'],
      [`gatehouse=${alice}`, 'application/x-www-form-urlencoded'],
      [`--b\r\nContent-Disposition: form-data; name="gatehouse"\r\n\r\n${alice}\r\n--b--\r\n`, 'multipart/form-data; boundary=b'],
    ];
    for (const [body, type] of bodies) {
      const reply = await call(env.gw.url, '/api/notes', { method: 'POST', body, headers: { 'content-type': type } });
      expect(reply.status, type).toBe(401);
      const password = await call(env.gw.url, '/auth/password', { method: 'POST', body, headers: { 'content-type': type } });
      expect(password.status, type).toBe(401);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the session id is never accepted from Authorization, X-Session or similar headers', async () => {
    const headers: Record<string, string>[] = [
      { authorization: `Bearer ${alice}` },
      { authorization: alice },
      { authorization: `gatehouse=${alice}` },
      { 'x-session': alice },
      { 'x-session-id': alice },
      { 'x-session-token': alice },
      { 'x-gatehouse': alice },
      { 'x-auth-token': alice },
      { cookie2: `gatehouse=${alice}` },
    ];
    for (const h of headers) {
      const reply = await call(env.gw.url, '/api/me', { headers: h });
      expect(reply.status, JSON.stringify(h)).toBe(401);
      expect((await call(env.gw.url, '/auth/session', { headers: h })).status, JSON.stringify(h)).toBe(401);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the tampering attempts did not disturb the real session', async () => {
    expect((await call(env.gw.url, '/auth/session', { session: alice })).status).toBe(200);
  });
});
