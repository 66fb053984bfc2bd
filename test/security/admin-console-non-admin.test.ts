import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, enrolTotp, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Attack: a user without the `admin` role — with the right password and a valid TOTP code — tries
 * the admin console (SPEC §11), or presents their public session cookie under the console's name.
 */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;
let secret: string;

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'alice', roles: ['user'] }], config: { admin: adminKey(port) } });
  konsole = await startConsole(gw, port);
  secret = await enrolTotp(gw, 'alice');
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

describe('admin console: a non-admin', () => {
  it('is refused at sign-in with 403 forbidden, gets no console cookie, and the attempt is audited', async () => {
    const reply = await call(konsole.url, '/api/login', { method: 'POST', body: { username: 'alice', password: 'correct horse battery staple', code: totpCode(secret, gw.clock.now()) } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    expect(reply.setCookie.some((c) => c.startsWith('gatehouse_admin='))).toBe(false);
    const events = await gw.gateway.services.store.audit.recent(20);
    expect(events.find((e) => e.type === 'admin_console_refused')).toMatchObject({ user: 'alice', ip: '127.0.0.1', detail: { reason: 'not_admin' } });
  });

  it('cannot use a public session as a console session: 403 forbidden, audited', async () => {
    gw.clock.advance(30_000);
    const publicCookie = await login(gw.url, 'alice');
    const reply = await consoleCall(konsole.url, '/api/users', publicCookie);
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    const events = await gw.gateway.services.store.audit.recent(5);
    expect(events[0]).toMatchObject({ type: 'admin_console_refused', user: 'alice' });
  });

  it('without any cookie gets 401 unauthenticated from the API', async () => {
    expect((await consoleCall(konsole.url, '/api/users', null)).status).toBe(401);
  });
});
