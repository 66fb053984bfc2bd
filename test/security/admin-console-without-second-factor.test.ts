import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Attack: an admin's password alone (phished, or guessed) opens the console. SPEC §11: the console
 * is for admins who completed a second factor; neither a password sign-in nor a password-only
 * public session is enough.
 */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'root', roles: ['admin'] }], config: { admin: adminKey(port) } });
  konsole = await startConsole(gw, port);
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

const refusals = async (): Promise<unknown[]> => (await gw.gateway.services.store.audit.recent(50)).filter((e) => e.type === 'admin_console_refused');

describe('admin console: an admin without a second factor', () => {
  it('is refused at sign-in with 403 forbidden, and the attempt is audited', async () => {
    const reply = await call(konsole.url, '/api/login', { method: 'POST', body: { username: 'root', password: 'correct horse battery staple', code: '000000' } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    expect(reply.setCookie.some((c) => c.startsWith('gatehouse_admin='))).toBe(false);
    await expect.poll(() => refusals()).toEqual([expect.objectContaining({ user: 'root', detail: { reason: 'no_second_factor' } })]);
  });

  it("cannot open the console with a password-only session: 403 forbidden, audited, nothing read", async () => {
    gw.clock.advance(61_000);
    const cookie = await login(gw.url, 'root');
    const reply = await consoleCall(konsole.url, '/api/secrets', cookie);
    expect(reply.status).toBe(403);
    expect(reply.text).not.toContain('api-token');
    await expect.poll(() => refusals()).toHaveLength(2);
  });
});
