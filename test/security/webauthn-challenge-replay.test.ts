import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { userHandleOf } from '../../src/mfa/passkey-service.js';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { startSecondGateway } from '../helpers/second-gateway.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * WebAuthn challenge replay: a captured registration or authentication response (from a log, a
 * proxy, a compromised browser extension, a relay) is sent again — as it is, re-signed over the
 * same challenge, after the challenge expired, for another ceremony or another user — or a cloned
 * authenticator answers with an older signature counter. WebAuthn §13.4.3: challenges are random,
 * single-use and short-lived; §6.1.1: a signature counter that does not grow signals a clone. Issue
 * 4: a challenge is single-use and expires after 5 minutes. SPEC §4.5: a refused registration is
 * 400 invalid_passkey, a refused login 401 invalid_credentials.
 *
 * The passkeys come from a software authenticator (test/helpers/soft-authenticator.ts) producing
 * exactly what a browser's `credential.toJSON()` returns, against a gateway whose publicOrigin is
 * http://localhost:8080 (RP id `localhost`).
 */

const origin = 'http://localhost:8080';
const challengeTtlMs = 5 * 60_000;

const env = useGateway({ users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'lena'].map((name) => ({ name })) });

async function registrationOptions(session: string, base: string = env.gw.url): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const reply = await call(base, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
  expect(reply.status).toBe(200);
  return reply.json();
}

function registerVerify(session: string, response: RegistrationResponseJSON, base: string = env.gw.url): Promise<Reply> {
  return call(base, '/auth/passkeys/register/verify', { method: 'POST', session, body: { response } });
}

async function loginOptions(username?: string, base: string = env.gw.url): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const reply = await call(base, '/auth/passkeys/login/options', { method: 'POST', body: username === undefined ? {} : { username } });
  expect(reply.status).toBe(200);
  return reply.json();
}

function loginVerify(response: AuthenticationResponseJSON, base: string = env.gw.url): Promise<Reply> {
  return call(base, '/auth/passkeys/login/verify', { method: 'POST', body: { response } });
}

/**
 * Registers a passkey on a new soft authenticator from a password session, then logs in with it:
 * the session returned has completed a second factor, which adding further factors needs.
 */
async function withPasskey(name: string): Promise<{ authenticator: SoftAuthenticator; session: string }> {
  const password = await login(env.gw.url, name);
  const authenticator = new SoftAuthenticator({ origin });
  const registered = await registerVerify(password, authenticator.register(await registrationOptions(password)));
  expect(registered.status).toBe(200);
  const signedIn = await loginVerify(authenticator.authenticate(await loginOptions(name)));
  expect(signedIn.status).toBe(200);
  return { authenticator, session: signedIn.cookie! };
}

function expectRegistrationRefused(reply: Reply, what?: string): void {
  expect([reply.status, reply.json().error.code], what).toEqual([400, 'invalid_passkey']);
}

function expectLoginRefused(reply: Reply, what?: string): void {
  expect([reply.status, reply.json().error.code], what).toEqual([401, 'invalid_credentials']);
  expect(reply.cookie, what).toBeUndefined();
}

async function passkeysOf(session: string): Promise<{ id: string }[]> {
  return (await call(env.gw.url, '/auth/passkeys', { session })).json().passkeys;
}

describe('WebAuthn challenge replay', () => {
  it('a registration response replayed is refused, and so is a fresh credential answering the spent challenge', async () => {
    const { session } = await withPasskey('alice');
    const options = await registrationOptions(session);
    const response = new SoftAuthenticator({ origin }).register(options);
    expect((await registerVerify(session, response)).status).toBe(200);

    expectRegistrationRefused(await registerVerify(session, response), 'the same response');
    expectRegistrationRefused(await registerVerify(session, new SoftAuthenticator({ origin }).register(options)), 'a new credential, same challenge');
    expect(await passkeysOf(session)).toHaveLength(2);
    // Control: a new challenge registers another passkey, so the refusals were about the challenge.
    expect((await registerVerify(session, new SoftAuthenticator({ origin }).register(await registrationOptions(session)))).status).toBe(200);
  });

  it('an authentication response replayed is refused, and so is a new signature over the spent challenge', async () => {
    const { authenticator } = await withPasskey('bob');
    const options = await loginOptions();
    const response = authenticator.authenticate(options);
    const first = await loginVerify(response);
    expect(first.status).toBe(200);
    expect(first.json().user.name).toBe('bob');

    expectLoginRefused(await loginVerify(response), 'the same response');
    // Counter + 1 and a valid signature: only the spent challenge is wrong.
    expectLoginRefused(await loginVerify(authenticator.authenticate(options)), 're-signed over the same challenge');
    expect((await loginVerify(authenticator.authenticate(await loginOptions()))).status).toBe(200);
  });

  it('one assertion sent 10 times in parallel, to two gateway instances sharing the store, logs in once', async () => {
    const { authenticator } = await withPasskey('carol');
    const second = await startSecondGateway(env.gw);
    try {
      const response = authenticator.authenticate(await loginOptions());
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => loginVerify(response, i % 2 === 0 ? env.gw.url : second.url)));
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      for (const reply of replies.filter((r) => r.status !== 200)) expectLoginRefused(reply);
    } finally {
      await second.close();
    }
  });

  it('a challenge older than 5 minutes is refused, for registration and for login; one just inside works', async () => {
    const { authenticator, session } = await withPasskey('dave');
    const late = new SoftAuthenticator({ origin }).register(await registrationOptions(session));
    env.gw.clock.advance(challengeTtlMs);
    expectRegistrationRefused(await registerVerify(session, late), 'registration');
    const inTime = new SoftAuthenticator({ origin }).register(await registrationOptions(session));
    env.gw.clock.advance(challengeTtlMs - 1);
    expect((await registerVerify(session, inTime)).status).toBe(200);

    const lateLogin = authenticator.authenticate(await loginOptions());
    env.gw.clock.advance(challengeTtlMs);
    expectLoginRefused(await loginVerify(lateLogin), 'login');
    const inTimeLogin = authenticator.authenticate(await loginOptions());
    env.gw.clock.advance(challengeTtlMs - 1);
    expect((await loginVerify(inTimeLogin)).status).toBe(200);
  });

  it('a challenge from the other ceremony is refused: a registration challenge cannot log in, a login challenge cannot register', async () => {
    const { authenticator, session } = await withPasskey('erin');
    const registration = await registrationOptions(session);
    expectLoginRefused(await loginVerify(authenticator.authenticate({ challenge: registration.challenge, rpId: 'localhost' })), 'registration challenge at login');
    const loginChallenge = (await loginOptions('erin')).challenge;
    expectRegistrationRefused(await registerVerify(session, new SoftAuthenticator({ origin }).register({ ...(await registrationOptions(session)), challenge: loginChallenge })), 'login challenge at registration');
    expect(await passkeysOf(session)).toHaveLength(1);
  });

  it('a registration challenge issued to one user cannot register a passkey for another', async () => {
    const { session: lenas } = await withPasskey('lena');
    // frank has no factor yet, so his password session may add one: the challenge is all that stops this.
    const franks = await login(env.gw.url, 'frank');
    const response = new SoftAuthenticator({ origin }).register(await registrationOptions(lenas));
    expectRegistrationRefused(await registerVerify(franks, response));
    expect(await passkeysOf(franks)).toEqual([]);
    expect((await env.gw.gateway.services.accounts.get('frank'))?.mfaEnabled).toBe(false);
  });

  it("a passkey of user A (grace) answering a login challenge issued for user B (bob) is refused, as is A's credential claiming B's user handle", async () => {
    const { authenticator: graces } = await withPasskey('grace');
    expectLoginRefused(await loginVerify(graces.authenticate(await loginOptions('bob'))), 'challenge bound to bob');
    const bobHandle = Buffer.from(userHandleOf('bob')).toString('base64url');
    expectLoginRefused(await loginVerify(graces.authenticate(await loginOptions(), { userHandle: bobHandle })), "bob's user handle");
    // Control: bound to her own name, or to none, grace's passkey logs grace in.
    expect((await loginVerify(graces.authenticate(await loginOptions('grace')))).json().user.name).toBe('grace');
    expect((await loginVerify(graces.authenticate(await loginOptions()))).json().user.name).toBe('grace');
  });

  it('a signature counter that goes backwards or stands still (a cloned authenticator) is refused; the original carries on', async () => {
    await env.gw.gateway.services.accounts.add({ name: 'kate', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    const { authenticator } = await withPasskey('kate');
    expect((await loginVerify(authenticator.authenticate(await loginOptions(), { counter: 40 }))).status).toBe(200);
    // The clone was copied when the counter was lower, or copies it exactly.
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions(), { counter: 20 })), 'counter 20 after 40');
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions(), { counter: 40 })), 'counter 40 again');
    expect((await loginVerify(authenticator.authenticate(await loginOptions(), { counter: 41 }))).status).toBe(200);
  });

  it('a passkey of a locked user cannot log in (until unlocked)', async () => {
    await env.gw.gateway.services.accounts.add({ name: 'henry', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    const { authenticator } = await withPasskey('henry');
    await env.gw.gateway.services.accounts.lock('henry', { user: 'test' });
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions())), 'locked');
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions('henry'))), 'locked, named');
    await env.gw.gateway.services.accounts.unlock('henry', { user: 'test' });
    expect((await loginVerify(authenticator.authenticate(await loginOptions()))).status).toBe(200);
  });

  it('a passkey of a removed user cannot log in, not even once a user of the same name exists again', async () => {
    await env.gw.gateway.services.accounts.add({ name: 'ivan', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    const { authenticator } = await withPasskey('ivan');
    await env.gw.gateway.services.accounts.remove('ivan', { user: 'test' });
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions())), 'removed');
    await env.gw.gateway.services.accounts.add({ name: 'ivan', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions())), 're-created');
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions('ivan'))), 're-created, named');
  });

  it('a passkey removed by its user cannot log in', async () => {
    await env.gw.gateway.services.accounts.add({ name: 'judy', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
    const { authenticator, session } = await withPasskey('judy');
    const [passkey] = await passkeysOf(session);
    expect((await call(env.gw.url, `/auth/passkeys/${passkey!.id}`, { method: 'DELETE', session })).status).toBe(204);
    expectLoginRefused(await loginVerify(authenticator.authenticate(await loginOptions())));
  });
});
