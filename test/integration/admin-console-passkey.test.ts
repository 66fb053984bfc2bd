import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Console sign-in with a passkey (SPEC §11: an admin who completed a second factor; a passkey with
 * user verification is both, §4.5). The passkey is registered on the public site
 * (http://localhost:8080) and used on the console (http://localhost:<port>): same host, so the same
 * relying-party id; the console checks its own origin.
 */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;
let adminOrigin: string;
let rootKey: SoftAuthenticator;

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  adminOrigin = `http://localhost:${port}`;
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'root', roles: ['admin'] }, { name: 'alice' }], config: { admin: adminKey(port, { publicOrigin: adminOrigin }) } });
  konsole = await startConsole(gw, port);
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

async function withPasskey(name: string): Promise<SoftAuthenticator> {
  const session = await login(gw.url, name);
  const options = await call(gw.url, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
  expect(options.status).toBe(200);
  const authenticator = new SoftAuthenticator({ origin: 'http://localhost:8080' });
  const response = authenticator.register(options.json());
  expect((await call(gw.url, '/auth/passkeys/register/verify', { method: 'POST', session, body: { response } })).status).toBe(200);
  return authenticator;
}

async function passkeySignIn(authenticator: SoftAuthenticator, name: string, origin = adminOrigin): Promise<Awaited<ReturnType<typeof call>>> {
  const options = await call(konsole.url, '/api/passkey/options', { method: 'POST', body: { username: name } });
  expect(options.status).toBe(200);
  const response = authenticator.authenticate(options.json(), { origin });
  return call(konsole.url, '/api/passkey/verify', { method: 'POST', body: { response } });
}

describe('admin console: passkey sign-in', () => {
  it('signs an admin in with a passkey (both factors): a console cookie that opens the API', async () => {
    rootKey = await withPasskey('root');
    const reply = await passkeySignIn(rootKey, 'root');
    expect(reply.status).toBe(200);
    const set = reply.setCookie.find((c) => c.startsWith('gatehouse_admin='))!;
    const cookie = set.slice('gatehouse_admin='.length, set.indexOf(';'));
    expect((await consoleCall(konsole.url, '/api/users', cookie)).status).toBe(200);
    expect((await gw.gateway.services.store.audit.recent(5)).find((e) => e.type === 'login_succeeded')).toMatchObject({ user: 'root', detail: { method: 'passkey', factors: 2, console: true } });
  });

  it('refuses a non-admin with a valid passkey (403 forbidden), and an assertion made for another origin (401)', async () => {
    const alice = await withPasskey('alice');
    const refused = await passkeySignIn(alice, 'alice');
    expect(refused.status).toBe(403);
    expect(refused.json().error.code).toBe('forbidden');
    const foreign = await passkeySignIn(rootKey, 'root', 'http://localhost:8080');
    expect(foreign.status).toBe(401);
    expect(foreign.setCookie.some((c) => c.startsWith('gatehouse_admin='))).toBe(false);
  });
});
