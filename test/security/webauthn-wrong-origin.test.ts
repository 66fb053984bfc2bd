import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { SoftAuthenticator, type CeremonyKnobs } from '../helpers/soft-authenticator.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * WebAuthn responses made for another site, or without the user: a phishing page at a look-alike
 * origin relays the ceremony (the browser then puts the phishing origin into clientDataJSON and the
 * phishing RP id's hash into the authenticator data), or malware drives the authenticator without
 * user verification. WebAuthn §7.1/§7.2: the RP checks clientDataJSON.origin against its own
 * origin, rpIdHash against its RP id, and — because SPEC §4.5 counts a passkey as both factors —
 * the UV flag. SPEC §4.5: the RP id is the host of server.publicOrigin, which must be a host name;
 * with an IP address there, passkeys are off.
 */

const origin = 'http://localhost:8080';

/** Origins a relaying page could have: other host, port, scheme, a subdomain, an IP for the same host. */
const foreignOrigins = [
  'http://evil.example',
  'https://localhost:8080',
  'http://localhost:8081',
  'http://localhost',
  'http://sub.localhost:8080',
  'http://127.0.0.1:8080',
  'http://localhost:8080.evil.example',
  'null',
];
/** RP ids whose hash must not match `localhost`'s. */
const foreignRpIds = ['evil.example', 'example.com', 'sub.localhost', 'localhost.', 'LOCALHOST', '127.0.0.1'];

const env = useGateway({ users: ['alice', 'bob', 'carol'].map((name) => ({ name })) });

async function registrationOptions(session: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const reply = await call(env.gw.url, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
  expect(reply.status).toBe(200);
  return reply.json();
}

function registerVerify(session: string, response: RegistrationResponseJSON): Promise<Reply> {
  return call(env.gw.url, '/auth/passkeys/register/verify', { method: 'POST', session, body: { response } });
}

async function loginOptions(username?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const reply = await call(env.gw.url, '/auth/passkeys/login/options', { method: 'POST', body: username === undefined ? {} : { username } });
  expect(reply.status).toBe(200);
  return reply.json();
}

function loginVerify(response: AuthenticationResponseJSON): Promise<Reply> {
  return call(env.gw.url, '/auth/passkeys/login/verify', { method: 'POST', body: { response } });
}

function expectRegistrationRefused(reply: Reply, what: string): void {
  expect([reply.status, reply.json().error?.code], `${what}: ${reply.text}`).toEqual([400, 'invalid_passkey']);
}

function expectLoginRefused(reply: Reply, what: string): void {
  expect([reply.status, reply.json().error.code], what).toEqual([401, 'invalid_credentials']);
  expect(reply.cookie, what).toBeUndefined();
}

/**
 * A registration response with its clientDataJSON changed. With "none" attestation nothing signs
 * clientDataJSON at registration (WebAuthn §8.7), so a client can put anything there: these checks
 * are all that stands.
 */
function rewriteClientData(response: RegistrationResponseJSON, change: (clientData: Record<string, unknown>) => void): RegistrationResponseJSON {
  const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(clientData);
  return { ...response, response: { ...response.response, clientDataJSON: Buffer.from(JSON.stringify(clientData)).toString('base64url') } };
}

/** Every bad variant of one ceremony, each on a fresh challenge (a challenge is spent by any attempt). */
const badKnobs: [string, CeremonyKnobs][] = [
  ...foreignOrigins.map((o): [string, CeremonyKnobs] => [`origin ${o}`, { origin: o }]),
  ...foreignRpIds.map((r): [string, CeremonyKnobs] => [`rpId ${r}`, { rpId: r }]),
  ['both for evil.example', { origin: 'https://evil.example', rpId: 'evil.example' }],
  ['no user verification', { userVerified: false }],
  ['no user presence', { userPresent: false }],
  ['neither presence nor verification', { userPresent: false, userVerified: false }],
];

describe('WebAuthn wrong origin', () => {
  it('a registration made for another origin or RP id, or without user verification, is refused and stores nothing', async () => {
    const session = await login(env.gw.url, 'alice');
    for (const [what, knobs] of badKnobs) {
      const response = new SoftAuthenticator({ origin }).register(await registrationOptions(session), knobs);
      expectRegistrationRefused(await registerVerify(session, response), what);
    }
    expect((await call(env.gw.url, '/auth/passkeys', { session })).json().passkeys).toEqual([]);
    expect((await env.gw.gateway.services.accounts.get('alice'))?.mfaEnabled).toBe(false);
    // Control: the honest ceremony on the same session succeeds.
    expect((await registerVerify(session, new SoftAuthenticator({ origin }).register(await registrationOptions(session)))).status).toBe(200);
  });

  it('a registration whose client data says it was made for a login, or names no type or origin, is refused', async () => {
    const session = await login(env.gw.url, 'bob');
    const variants: [string, (clientData: Record<string, unknown>) => void][] = [
      ['type webauthn.get', (c) => { c.type = 'webauthn.get'; }],
      ['type missing', (c) => { delete c.type; }],
      ['origin missing', (c) => { delete c.origin; }],
    ];
    for (const [what, change] of variants) {
      const response = rewriteClientData(new SoftAuthenticator({ origin }).register(await registrationOptions(session)), change);
      expectRegistrationRefused(await registerVerify(session, response), what);
    }
    expect((await call(env.gw.url, '/auth/passkeys', { session })).json().passkeys).toEqual([]);
  });

  it('a registration made inside a cross-origin frame (clientData crossOrigin: true, topOrigin: another site) is refused', async () => {
    // WebAuthn Level 3 §7.1 (topOrigin): the RP verifies that it expects to be framed by that
    // origin. Gatehouse expects no framing at all (its site sends frame-ancestors 'none'), so a
    // ceremony that says it ran under https://evil.example must not register a passkey.
    const session = await login(env.gw.url, 'bob');
    const response = rewriteClientData(new SoftAuthenticator({ origin }).register(await registrationOptions(session)), (c) => {
      c.crossOrigin = true;
      c.topOrigin = 'https://evil.example';
    });
    expectRegistrationRefused(await registerVerify(session, response), 'crossOrigin under https://evil.example');
    expect((await call(env.gw.url, '/auth/passkeys', { session })).json().passkeys).toEqual([]);
  });

  it('a login signed for another origin or RP id, or without user verification, is refused and opens no session', async () => {
    const session = await login(env.gw.url, 'carol');
    const authenticator = new SoftAuthenticator({ origin });
    expect((await registerVerify(session, authenticator.register(await registrationOptions(session)))).status).toBe(200);
    const sessionsBefore = (await env.gw.gateway.services.store.sessions.list({ userName: 'carol' })).length;
    for (const [what, knobs] of badKnobs) {
      expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions(), knobs)), what);
      expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions('carol'), knobs)), `${what}, named`);
    }
    expect((await env.gw.gateway.services.store.sessions.list({ userName: 'carol' })).length).toBe(sessionsBefore);
    // Control: the same authenticator, honestly, logs in (its counter kept growing through the refusals).
    const ok = await loginVerify(authenticator.authenticate(await loginOptions()));
    expect(ok.status).toBe(200);
    expect(ok.json().user.name).toBe('carol');
  });

  it('with an IP address as publicOrigin passkeys are off: every passkey ceremony endpoint answers 404', async () => {
    for (const ipOrigin of ['http://127.0.0.1:8080', 'http://[::1]:8080']) {
      const ip = await startGateway({ upstreamUrl: env.upstream.url, config: { server: { host: '127.0.0.1', port: 0, publicOrigin: ipOrigin } } });
      try {
        const session = await login(ip.url, 'alice');
        const authenticator = new SoftAuthenticator({ origin: ipOrigin });
        const registerOptions = await call(ip.url, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
        expect([registerOptions.status, registerOptions.json().error.code], ipOrigin).toEqual([404, 'not_found']);
        // A response built for the IP "RP id" anyway (as a non-browser client could) is not verified either.
        const forged = authenticator.register({
          challenge: 'A'.repeat(43),
          rp: { id: new URL(ipOrigin).hostname, name: 'x' },
          user: { id: 'AAAA', name: 'alice', displayName: 'alice' },
          pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
        });
        const registerVerifyReply = await call(ip.url, '/auth/passkeys/register/verify', { method: 'POST', session, body: { response: forged } });
        expect(registerVerifyReply.status, ipOrigin).toBe(404);
        const loginOptionsReply = await call(ip.url, '/auth/passkeys/login/options', { method: 'POST', body: {} });
        expect(loginOptionsReply.status, ipOrigin).toBe(404);
        const loginVerifyReply = await call(ip.url, '/auth/passkeys/login/verify', { method: 'POST', body: { response: authenticator.authenticate({ challenge: 'A'.repeat(43), rpId: new URL(ipOrigin).hostname }) } });
        expect(loginVerifyReply.status, ipOrigin).toBe(404);
        expect(loginVerifyReply.cookie).toBeUndefined();
        expect(ip.logs()).toContain('passkeys are off');
      } finally {
        await ip.close();
      }
    }
  });
});
