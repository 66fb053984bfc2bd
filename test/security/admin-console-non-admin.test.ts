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

const refusals = async (): Promise<unknown[]> => (await gw.gateway.services.store.audit.recent(50)).filter((e) => e.type === 'admin_console_refused');

describe('admin console: a non-admin', () => {
  it('is refused at sign-in with 403 forbidden, gets no console cookie, and the attempt is audited', async () => {
    const reply = await call(konsole.url, '/api/login', { method: 'POST', body: { username: 'alice', password: 'correct horse battery staple', code: totpCode(secret, gw.clock.now()) } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    expect(reply.setCookie.some((c) => c.startsWith('gatehouse_admin='))).toBe(false);
    await expect.poll(() => refusals()).toEqual([expect.objectContaining({ user: 'alice', ip: '127.0.0.1', detail: { reason: 'not_admin' } })]);
    // Repeatable at will with her own password: audited at most once per address, reason and minute (SPEC §6).
    gw.clock.advance(30_000);
    expect((await call(konsole.url, '/api/login', { method: 'POST', body: { username: 'alice', password: 'correct horse battery staple', code: totpCode(secret, gw.clock.now()) } })).status).toBe(403);
    expect(await refusals()).toHaveLength(1);
  });

  it('cannot use a public session as a console session: 403 forbidden, audited', async () => {
    gw.clock.advance(61_000);
    const publicCookie = await login(gw.url, 'alice');
    const reply = await consoleCall(konsole.url, '/api/users', publicCookie);
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    await expect.poll(() => refusals()).toHaveLength(2);
  });

  it('without any cookie gets 401 unauthenticated from the API', async () => {
    expect((await consoleCall(konsole.url, '/api/users', null)).status).toBe(401);
  });
});
