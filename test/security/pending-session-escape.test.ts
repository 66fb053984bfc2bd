import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Access } from '../../src/http/endpoint.js';
import { sha256Hex } from '../../src/security/hash.js';
import { rawErrorCode, rawExchange, rawHead } from '../helpers/attack.js';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Escaping the pending state: someone with the password but not the second factor holds a session
 * that is only half logged in, and tries to use it for anything else — every endpoint the gateway
 * has, every method, duplicate cookies, HEAD, method-override headers, paths that normalise
 * elsewhere, logging in again. SPEC §4.5: a pending session may call only /auth/mfa/verify,
 * /auth/session and /auth/logout; anything else answers 401 mfa_required. With `mfa.required`, a
 * login without any factor must enrol first: only the enrolment endpoints, /auth/session and
 * /auth/logout. The upstream must see nothing from such a session.
 *
 * The endpoint list is not written out here: it is read from the running gateway
 * (runtime.ownEndpoints, ownItemEndpoints and one concrete path per configured route), so an
 * endpoint added later is attacked too.
 */

const routes = [
  { path: '/api/public/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api/public', public: true },
  { path: '/api/download/**', methods: ['GET'], upstream: 'api', csrf: false },
  { path: '/api/admin/**', methods: ['GET', 'POST'], upstream: 'api', roles: ['admin'] },
  { path: '/api/secure/**', methods: ['GET', 'POST'], upstream: 'api', mfa: true },
  { path: '/api/items/*/detail', methods: ['GET', 'PATCH'], upstream: 'api' },
  { path: '/api/**', methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], upstream: 'api', stripPrefix: '/api' },
];
const site = resolve(import.meta.dirname, '../fixtures/site');
/** Shaped like a passkey or session handle, so item endpoints get as far as their lookup. */
const someId = 'AAAAAAAAAAAAAAAAAAAAAA';

interface Target {
  id: string;
  path: string;
  method: string;
  access: Access;
}

/** Every (path, method) the gateway answers itself or forwards, read from its runtime. */
function targets(gw: TestGateway): Target[] {
  const rt = gw.gateway.runtime;
  const list: Target[] = [];
  for (const [path, endpoint] of rt.ownEndpoints) {
    for (const method of endpoint.methods) list.push({ id: endpoint.id, path, method, access: endpoint.access });
  }
  for (const [collection, endpoint] of rt.ownItemEndpoints) {
    for (const method of endpoint.methods) list.push({ id: endpoint.id, path: `${collection}/${someId}`, method, access: endpoint.access });
  }
  rt.routeEndpoints.forEach((endpoint, index) => {
    const path = rt.routes.routes[index]!.config.path.replace(/\/\*\*$/, '/probe').replace(/\/\*(?=\/|$)/g, '/seg');
    // The concrete path must reach this very route (first match wins), or the route goes unattacked.
    expect(rt.routes.match(path)?.index, `${endpoint.id} ${path}`).toBe(index);
    for (const method of endpoint.methods) list.push({ id: endpoint.id, path, method, access: endpoint.access });
  });
  return list;
}

function send(gw: TestGateway, target: Target, session?: string, headers: Record<string, string> = {}): Promise<Reply> {
  const withBody = target.method !== 'GET' && target.method !== 'HEAD';
  return call(gw.url, target.path, { method: target.method, ...(session === undefined ? {} : { session }), headers, ...(withBody ? { body: {} } : {}) });
}

function label(target: Target): string {
  return `${target.method} ${target.path} (${target.id})`;
}

/** An error code from a reply, or null (HEAD and 2xx replies have none). */
function errorCode(reply: Reply): string | null {
  if (reply.text === '') return null;
  try {
    return (reply.json() as { error?: { code?: string } }).error?.code ?? null;
  } catch {
    return null;
  }
}

function expectMfaRequired(reply: Reply, what: string): void {
  expect(reply.status, what).toBe(401);
  if (reply.text !== '') expect(errorCode(reply), what).toBe('mfa_required');
  // Nothing is issued, and the pending cookie is not cleared either: it is still good for verify.
  expect(reply.cookie, what).toBeUndefined();
}

/**
 * Walks every target with `pending`: allowed ones (and public/optional ones, compared with an
 * anonymous request) pass; the rest must be 401 mfa_required. Logout is left out (it would end
 * the session); it is attacked on its own.
 */
async function walk(gw: TestGateway, upstream: TestUpstream, pending: string, allowed: ReadonlySet<string>): Promise<{ refused: number; allowedSeen: Set<string> }> {
  let refused = 0;
  const allowedSeen = new Set<string>();
  const publicPaths = new Set<string>();
  for (const target of targets(gw)) {
    if (target.path === '/auth/logout') continue;
    const seenBefore = upstream.seen.length;
    const reply = await send(gw, target, pending);
    if (target.access !== 'session') {
      // No session needed: the pending cookie must buy nothing an anonymous client does not get.
      const anonymous = await send(gw, target);
      expect([reply.status, errorCode(reply)], label(target)).toEqual([anonymous.status, errorCode(anonymous)]);
      expect(reply.cookie, label(target)).toBeUndefined();
      if (target.id.startsWith('route[')) publicPaths.add(target.path);
      continue;
    }
    if (allowed.has(target.path)) {
      allowedSeen.add(target.path);
      expect(errorCode(reply), label(target)).not.toBe('mfa_required');
      continue;
    }
    expectMfaRequired(reply, label(target));
    // Not a byte of it went upstream (only public routes, which need no session, ever forward).
    expect(upstream.seen.length, `${label(target)} reached the upstream`).toBe(seenBefore);
    refused += 1;
  }
  expect(publicPaths.size).toBeGreaterThan(0);
  return { refused, allowedSeen };
}

async function sessionRecord(gw: TestGateway, cookie: string) {
  return gw.gateway.services.store.sessions.get(sha256Hex(cookie));
}

describe('pending session escape', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let secret: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreamUrl: upstream.url,
      users: [{ name: 'alice', roles: ['user', 'admin'] }, { name: 'bob', roles: ['user', 'admin'] }],
      config: { routes, static: site },
    });
    const cookie = await login(gw.url, 'alice');
    secret = (await call(gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} })).json().secret;
    expect((await call(gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(secret, gw.clock.now(), -1) } })).status).toBe(200);
    await call(gw.url, '/auth/logout', { method: 'POST', session: cookie });
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  async function pendingSession(): Promise<string> {
    const reply = await call(gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } });
    expect(reply.json()).toMatchObject({ mfaRequired: true });
    return reply.cookie!;
  }

  it('every endpoint of the gateway, with every method it allows, answers 401 mfa_required but verify and session; the upstream sees nothing', async () => {
    const pending = await pendingSession();
    const all = targets(gw);
    expect(all.length).toBeGreaterThan(30);
    const { refused, allowedSeen } = await walk(gw, upstream, pending, new Set(['/auth/mfa/verify', '/auth/session']));
    expect([...allowedSeen].sort()).toEqual(['/auth/mfa/verify', '/auth/session']);
    expect(refused).toBeGreaterThan(20);

    // The walk left it exactly as it was: pending, and still able to finish with a code.
    expect(await sessionRecord(gw, pending)).toMatchObject({ mfaPending: true, mfaCompleted: false });
    const verified = await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: totpCode(secret, gw.clock.now()) } });
    expect(verified.status).toBe(200);
  });

  it('control: the same walk with a full session gets past the session checks everywhere (so the targets are reachable)', async () => {
    const full = await login(gw.url, 'bob');
    upstream.seen.length = 0;
    let forwarded = 0;
    for (const target of targets(gw)) {
      if (target.path === '/auth/logout' || target.path === '/auth/sessions/revoke-others') continue;
      const reply = await send(gw, target, full);
      // bob logged in with a password only: the step-up route refuses him (403), all others forward.
      if (target.id.startsWith('route[') && target.path !== '/api/secure/probe') forwarded += 1;
      if (target.access !== 'session') continue;
      expect(reply.status, label(target)).not.toBe(401);
    }
    expect(upstream.seen.length).toBe(forwarded);
  });

  it('duplicate cookies: the pending id twice, or beside a full session, opens nothing (not even verify)', async () => {
    const pending = await pendingSession();
    const full = await login(gw.url, 'bob');
    const headers = [
      `gatehouse=${pending}; gatehouse=${pending}`,
      `gatehouse=${pending}; gatehouse=${full}`,
      `gatehouse=${full}; gatehouse=${pending}`,
      `theme=dark; gatehouse=${pending};gatehouse=${full}`,
    ];
    for (const cookie of headers) {
      for (const [method, path] of [['GET', '/api/probe'], ['POST', '/api/probe'], ['GET', '/auth/sessions'], ['POST', '/auth/mfa/verify'], ['GET', '/api/secure/probe']] as const) {
        const reply = await call(gw.url, path, { method, headers: { cookie }, ...(method === 'POST' ? { body: { code: '000000' } } : {}) });
        expect([reply.status, errorCode(reply)], `${method} ${path} with ${cookie.slice(0, 30)}…`).toEqual([401, 'unauthenticated']);
      }
    }
    // Two Cookie header lines (which Node joins into one list) are the same duplicate.
    const raw = await rawExchange(gw.gateway.port, rawHead('GET /api/probe HTTP/1.1', { csrf: true, headers: [`Cookie: gatehouse=${full}`, `Cookie: gatehouse=${pending}`] }));
    expect(raw.statuses).toEqual([401]);
    expect(rawErrorCode(raw.text)).toBe('unauthenticated');
    expect(upstream.seen).toEqual([]);
  });

  it('HEAD on every endpoint that allows GET answers 401, with no body, and is not forwarded', async () => {
    const pending = await pendingSession();
    const heads = targets(gw).filter((t) => t.method === 'HEAD' && t.access === 'session' && t.path !== '/auth/session');
    expect(heads.map((t) => t.path)).toEqual(expect.arrayContaining(['/auth/sessions', '/auth/passkeys', '/api/probe', '/api/download/probe', '/api/secure/probe']));
    for (const target of heads) {
      const reply = await send(gw, target, pending);
      expect([reply.status, reply.text], label(target)).toEqual([401, '']);
    }
    expect(upstream.seen).toEqual([]);
  });

  it('method-override headers and parameters change nothing: blocked stays blocked, an allowed endpoint does only what its real method does', async () => {
    const pending = await pendingSession();
    const overrides = ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override'];
    for (const header of overrides) {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']) {
        const h = { [header]: method };
        for (const [real, path] of [['POST', '/api/probe'], ['GET', '/api/probe'], ['DELETE', '/api/probe'], ['POST', '/auth/sessions/revoke-others'], ['GET', '/auth/sessions'], ['POST', '/auth/password'], ['DELETE', '/auth/mfa/totp']] as const) {
          expectMfaRequired(await call(gw.url, path, { method: real, session: pending, headers: h, ...(real === 'GET' ? {} : { body: {} }) }), `${real} ${path} ${header}: ${method}`);
        }
        // GET /auth/session with an override still only reads it: the session is neither ended nor changed.
        const read = await call(gw.url, '/auth/session', { session: pending, headers: h });
        expect(read.status, `${header}: ${method}`).toBe(200);
        expect(read.cookie).toBeUndefined();
        // POST /auth/mfa/verify is still only verify (a bad body is 400 bad_request, nothing else happens).
        const verify = await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, headers: h, body: { nothing: true } });
        expect([verify.status, errorCode(verify)], `${header}: ${method}`).toEqual([400, 'bad_request']);
      }
    }
    for (const path of ['/api/probe?_method=GET', '/api/probe?_method=DELETE', '/auth/password?_method=GET', '/auth/sessions/revoke-others?_method=GET']) {
      expectMfaRequired(await call(gw.url, path, { method: 'POST', session: pending, body: {} }), path);
    }
    for (const path of ['/api/probe?_method=POST', '/auth/sessions?_method=DELETE', '/auth/passkeys?_method=POST']) {
      expectMfaRequired(await call(gw.url, path, { session: pending }), path);
    }
    expect(await sessionRecord(gw, pending)).toMatchObject({ mfaPending: true });
    expect(upstream.seen).toEqual([]);
  });

  it('paths that start at an allowed endpoint and normalise elsewhere are refused or stay inside the allowed endpoint', async () => {
    const pending = await pendingSession();
    const targetsToTry = [
      '/auth/session/../../api/probe',
      '/auth/session/%2e%2e/%2e%2e/api/probe',
      '//auth/session/../../api/probe',
      '/auth/mfa/verify/../../../auth/sessions',
      '/auth/mfa/verify/..%2f..%2fsessions',
      '/auth/session/..;/..;/api/probe',
      '/auth/session;/../../api/probe',
      '/auth/./session/../../api/secure/probe',
      '/auth/session%2f..%2f..%2fapi/probe',
      'http://localhost:8080/api/probe',
    ];
    for (const target of targetsToTry) {
      const reply = await rawExchange(gw.gateway.port, rawHead(`GET ${target} HTTP/1.1`, { session: pending }));
      const status = reply.statuses[0];
      expect([400, 401, 404], target).toContain(status);
      if (status === 401) expect(rawErrorCode(reply.text), target).toBe('mfa_required');
    }
    // A query string is not a path: it leaves the allowed endpoint where it was.
    const query = await call(gw.url, '/auth/session?next=/api/probe', { session: pending });
    expect(query.json().user.name).toBe('alice');
    expect(upstream.seen).toEqual([]);
  });

  it('logging in again from a pending session gives another pending session, and ends the first', async () => {
    const pending = await pendingSession();
    const again = await call(gw.url, '/auth/login', { method: 'POST', session: pending, body: { username: 'alice', password: PASSWORD } });
    expect(again.json()).toMatchObject({ mfaRequired: true });
    expect(again.cookie).not.toBe(pending);
    expectMfaRequired(await call(gw.url, '/api/probe', { session: again.cookie! }), 'the new session');
    expect((await call(gw.url, '/auth/session', { session: pending })).status).toBe(401);
    // And a failed passkey login with a pending session is not a promotion either.
    const passkey = await call(gw.url, '/auth/passkeys/login/verify', { method: 'POST', session: again.cookie!, body: { response: { id: someId, rawId: someId, type: 'public-key', response: {} } } });
    expect([passkey.status, errorCode(passkey)]).toEqual([401, 'invalid_credentials']);
    expectMfaRequired(await call(gw.url, '/api/probe', { session: again.cookie! }), 'after a failed passkey login');
    expect(upstream.seen).toEqual([]);
  });

  it('logout is allowed and ends the pending session for good', async () => {
    const pending = await pendingSession();
    const out = await call(gw.url, '/auth/logout', { method: 'POST', session: pending });
    expect(out.status).toBe(204);
    expect(out.cookie).toBeNull();
    expect(await sessionRecord(gw, pending)).toBeNull();
    const late = await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: totpCode(secret, gw.clock.now(), 1) } });
    expect([late.status, errorCode(late)]).toEqual([401, 'unauthenticated']);
  });
});

describe('pending session escape (enrolment pending under mfa.required)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const enrolment = ['/auth/mfa/totp/setup', '/auth/mfa/totp/confirm', '/auth/passkeys/register/options', '/auth/passkeys/register/verify', '/auth/session'];

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreamUrl: upstream.url,
      users: ['judy', 'kim', 'leo', 'mia'].map((name) => ({ name, roles: ['user', 'admin'] })),
      config: { routes, static: site, mfa: { required: true } },
    });
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  async function enrolmentSession(name: string): Promise<string> {
    const reply = await call(gw.url, '/auth/login', { method: 'POST', body: { username: name, password: PASSWORD } });
    expect(reply.json()).toMatchObject({ mfaRequired: true });
    return reply.cookie!;
  }

  it('every endpoint but the enrolment ones and session answers 401 mfa_required (verify included); the upstream sees nothing', async () => {
    const pending = await enrolmentSession('judy');
    const { refused, allowedSeen } = await walk(gw, upstream, pending, new Set(enrolment));
    expect([...allowedSeen].sort()).toEqual([...enrolment].sort());
    expect(refused).toBeGreaterThan(20);
    expectMfaRequired(await call(gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: '123456' } }), 'verify');
  });

  it('a started but unconfirmed enrolment, a wrong confirm code, or a failed passkey registration lifts nothing', async () => {
    const pending = await enrolmentSession('kim');
    const setup = await call(gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: pending, body: {} });
    expect(setup.status).toBe(200);
    expectMfaRequired(await call(gw.url, '/api/probe', { session: pending }), 'after setup');
    expect((await call(gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: pending, body: { code: '000000' } })).status).toBe(400);
    expectMfaRequired(await call(gw.url, '/api/probe', { session: pending }), 'after a wrong confirm code');

    const options = (await call(gw.url, '/auth/passkeys/register/options', { method: 'POST', session: pending, body: {} })).json();
    const response = new SoftAuthenticator({ origin: 'http://localhost:8080' }).register(options, { userVerified: false });
    const registered = await call(gw.url, '/auth/passkeys/register/verify', { method: 'POST', session: pending, body: { response } });
    expect([registered.status, errorCode(registered)]).toEqual([400, 'invalid_passkey']);
    expectMfaRequired(await call(gw.url, '/api/probe', { session: pending }), 'after a failed passkey registration');
    expect(await sessionRecord(gw, pending)).toMatchObject({ mfaPending: true, mfaCompleted: false });
    expect(upstream.seen).toEqual([]);
  });

  it('duplicate cookies and method overrides do not get an enrolling session out either', async () => {
    const pending = await enrolmentSession('leo');
    const other = await enrolmentSession('leo');
    for (const cookie of [`gatehouse=${pending}; gatehouse=${other}`, `gatehouse=${pending}; gatehouse=${pending}`]) {
      const reply = await call(gw.url, '/api/probe', { headers: { cookie } });
      expect([reply.status, errorCode(reply)]).toEqual([401, 'unauthenticated']);
    }
    for (const header of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override']) {
      expectMfaRequired(await call(gw.url, '/api/probe', { method: 'POST', session: pending, headers: { [header]: 'GET' }, body: {} }), header);
      expectMfaRequired(await call(gw.url, '/auth/sessions', { session: pending, headers: { [header]: 'POST' } }), header);
    }
    expect(upstream.seen).toEqual([]);
  });

  it('a user whose only factor is a passkey cannot skip the second factor with the password alone', async () => {
    // mia enrols a passkey, the way mfa.required makes her.
    const enrolling = await enrolmentSession('mia');
    const authenticator = new SoftAuthenticator({ origin: 'http://localhost:8080' });
    const options = (await call(gw.url, '/auth/passkeys/register/options', { method: 'POST', session: enrolling, body: {} })).json();
    const registered = await call(gw.url, '/auth/passkeys/register/verify', { method: 'POST', session: enrolling, body: { response: authenticator.register(options) } });
    expect(registered.status).toBe(200);
    expect((await gw.gateway.services.accounts.get('mia'))?.mfaEnabled).toBe(true);

    // Someone with only her password: SPEC §3 `mfa.required`, "every password login must complete a second factor".
    const attacker = await call(gw.url, '/auth/login', { method: 'POST', body: { username: 'mia', password: PASSWORD } });
    expect(attacker.status).toBe(200);
    const api = await call(gw.url, '/api/probe', { session: attacker.cookie! });
    expect(
      [attacker.json().mfaRequired, api.status],
      `password-only login of a passkey-only user under mfa.required: mfaRequired=${attacker.json().mfaRequired}, GET /api/probe → ${api.status}`,
    ).toEqual([true, 401]);
    expect(upstream.seen).toEqual([]);
  });
});
