import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Attack: a client outside `admin.allow` reaches the admin port (a firewall mistake, a listener
 * bound wider than meant). SPEC §11: 403 ip_blocked, for the pages and the API alike, audited
 * (at most once per address and minute, SPEC §6).
 */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  // Only 127.0.0.2 may connect; the test's client comes from 127.0.0.1.
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'root', roles: ['admin'] }], config: { admin: adminKey(port, { allow: ['127.0.0.2/32'] }) } });
  konsole = await startConsole(gw, port);
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

describe('admin console: a client outside admin.allow', () => {
  it('gets 403 ip_blocked for the page, the script and sign-in, and is audited once', async () => {
    for (const path of ['/', '/assets/console.js']) {
      const reply = await call(konsole.url, path);
      expect(reply.status).toBe(403);
      expect(reply.json().error.code).toBe('ip_blocked');
    }
    const login = await consoleCall(konsole.url, '/api/login', null, { method: 'POST', body: { username: 'root', password: 'correct horse battery staple', code: '000000' }, headers: { origin: konsole.url } });
    expect(login.status).toBe(403);
    expect(login.json().error.code).toBe('ip_blocked');
    await expect.poll(async () => (await gw.gateway.services.store.audit.recent(20)).filter((e) => e.type === 'ip_blocked'))
      .toEqual([expect.objectContaining({ ip: '127.0.0.1', detail: { listener: 'admin' } })]);
    expect((await gw.gateway.services.store.audit.recent(20)).some((e) => e.type === 'login_failed' || e.type === 'login_succeeded')).toBe(false);
  });
});
