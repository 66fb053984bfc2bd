import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, consoleSignIn, enrolTotp, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Attack: a page on another site makes the signed-in admin's browser POST a lock (classic CSRF: the
 * browser attaches the console cookie). SPEC §11 and §4.3: the console's state-changing calls need
 * X-CSRF: 1, and an Origin other than admin.publicOrigin is refused; each refusal is audited.
 */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;
let cookie: string;

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'root', roles: ['admin'] }, { name: 'alice' }], config: { admin: adminKey(port) } });
  konsole = await startConsole(gw, port);
  cookie = await consoleSignIn(konsole.url, gw, 'root', await enrolTotp(gw, 'root'));
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

const aliceLocked = async (): Promise<boolean> => (await gw.gateway.services.accounts.get('alice'))!.locked;

describe('admin console: cross-site POST', () => {
  it('without X-CSRF: 403 csrf_rejected, the user stays unlocked, audited', async () => {
    const reply = await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', csrf: false, body: { name: 'alice' }, headers: { origin: 'https://evil.example' } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('csrf_rejected');
    expect(await aliceLocked()).toBe(false);
    await expect.poll(async () => (await gw.gateway.services.store.audit.recent(5)).find((e) => e.type === 'csrf_rejected')).toMatchObject({ ip: '127.0.0.1', detail: { reason: 'missing_header', endpoint: 'admin.console' } });
  });

  it('with X-CSRF but a foreign Origin (or the public origin): 403 csrf_rejected', async () => {
    for (const origin of ['https://evil.example', 'http://localhost:8080']) {
      const reply = await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', body: { name: 'alice' }, headers: { origin } });
      expect(reply.status).toBe(403);
    }
    const crossSite = await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', body: { name: 'alice' }, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(await aliceLocked()).toBe(false);
  });

  it('the same call from the console itself (X-CSRF, its own Origin) locks the user', async () => {
    const reply = await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', body: { name: 'alice' }, headers: { origin: konsole.url } });
    expect(reply.status).toBe(204);
    expect(await aliceLocked()).toBe(true);
  });

  it('sign-in itself needs X-CSRF (no login CSRF)', async () => {
    const reply = await consoleCall(konsole.url, '/api/login', null, { method: 'POST', csrf: false, body: { username: 'root', password: 'x', code: '000000' } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('csrf_rejected');
  });
});
