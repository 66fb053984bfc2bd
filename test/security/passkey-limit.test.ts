import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { call, login, type Reply } from '../helpers/http.js';
import { startSecondGateway } from '../helpers/second-gateway.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Passkey hoarding: someone holding a user's session (stolen, or the user's own script) registers
 * passkey after passkey — credentials that outlive the session and that the user must find and
 * remove one by one, rows without end, and every registration's excludeCredentials list growing
 * with them. SPEC §4.5: a user has at most 10 passkeys; another registration answers 409
 * too_many_passkeys. The attack that matters is the race: registrations begun (options fetched)
 * while the user had 9, finished at once in several tabs and on two gateway instances sharing the
 * store. The check when the options are asked for cannot stop those; only the store's insert can.
 *
 * Passkeys come from a software authenticator (test/helpers/soft-authenticator.ts) producing what a
 * browser's `credential.toJSON()` returns, against publicOrigin http://localhost:8080.
 */

const origin = 'http://localhost:8080';
const limit = 10;

const env = useGateway({ users: ['alice', 'bob', 'carol', 'dave'].map((name) => ({ name })) });

function registrationOptions(session: string, base: string = env.gw.url): Promise<Reply> {
  return call(base, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
}

async function freshOptions(session: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const reply = await registrationOptions(session);
  expect(reply.status).toBe(200);
  return reply.json();
}

function registerVerify(session: string, response: RegistrationResponseJSON, base: string = env.gw.url): Promise<Reply> {
  return call(base, '/auth/passkeys/register/verify', { method: 'POST', session, body: { response } });
}

function expectTooMany(reply: Reply, what?: string): void {
  expect([reply.status, reply.json().error.code], what).toEqual([409, 'too_many_passkeys']);
}

async function passkeyCount(session: string): Promise<number> {
  const reply = await call(env.gw.url, '/auth/passkeys', { session });
  expect(reply.status).toBe(200);
  return reply.json().passkeys.length;
}

/**
 * A user with `count` passkeys, all registered through the API, and a session that completed a
 * second factor (a passkey login), which adding passkeys to an account that has one needs.
 */
async function withPasskeys(name: string, count: number): Promise<string> {
  const password = await login(env.gw.url, name);
  const first = new SoftAuthenticator({ origin });
  expect((await registerVerify(password, first.register(await freshOptions(password)))).status).toBe(200);
  const loginOptions = (await call(env.gw.url, '/auth/passkeys/login/options', { method: 'POST', body: { username: name } })).json();
  const signedIn = await call(env.gw.url, '/auth/passkeys/login/verify', { method: 'POST', body: { response: first.authenticate(loginOptions) } });
  expect(signedIn.status).toBe(200);
  const session = signedIn.cookie!;
  for (let i = 1; i < count; i += 1) {
    expect((await registerVerify(session, new SoftAuthenticator({ origin }).register(await freshOptions(session)))).status).toBe(200);
  }
  expect(await passkeyCount(session)).toBe(count);
  return session;
}

describe('passkey limit', () => {
  it('the 11th registration is refused at its options with 409 too_many_passkeys; a removal makes room for one again', async () => {
    const session = await withPasskeys('alice', limit);
    expectTooMany(await registrationOptions(session), 'options for the 11th');
    expect(await passkeyCount(session)).toBe(limit);

    const [oldest] = (await call(env.gw.url, '/auth/passkeys', { session })).json().passkeys as { id: string }[];
    expect((await call(env.gw.url, `/auth/passkeys/${oldest!.id}`, { method: 'DELETE', session })).status).toBe(204);
    expect((await registerVerify(session, new SoftAuthenticator({ origin }).register(await freshOptions(session)))).status).toBe(200);
    expectTooMany(await registrationOptions(session), 'full again');
    expect(await passkeyCount(session)).toBe(limit);
  });

  it('options fetched at 9 passkeys and finished after the 10th was added are refused at verify', async () => {
    const session = await withPasskeys('bob', limit - 1);
    const early = await freshOptions(session);
    const other = await freshOptions(session);
    expect((await registerVerify(session, new SoftAuthenticator({ origin }).register(other))).status).toBe(200);
    expectTooMany(await registerVerify(session, new SoftAuthenticator({ origin }).register(early)), 'the verify-time check');
    expect(await passkeyCount(session)).toBe(limit);
  });

  it('8 registrations begun at 9 passkeys and finished at once, on two gateway instances sharing the store: exactly one is stored', async () => {
    const session = await withPasskeys('carol', limit - 1);
    const second = await startSecondGateway(env.gw);
    try {
      const responses = [];
      for (let i = 0; i < 8; i += 1) responses.push(new SoftAuthenticator({ origin }).register(await freshOptions(session)));
      const replies = await Promise.all(responses.map((response, i) => registerVerify(session, response, i % 2 === 0 ? env.gw.url : second.url)));
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      for (const reply of replies.filter((r) => r.status !== 200)) expectTooMany(reply);
      expect(await passkeyCount(session)).toBe(limit);
    } finally {
      await second.close();
    }
  });

  it('the limit is per user: another user registers while one is full', async () => {
    const password = await login(env.gw.url, 'dave');
    expect((await registerVerify(password, new SoftAuthenticator({ origin }).register(await freshOptions(password)))).status).toBe(200);
    expect(await passkeyCount(password)).toBe(1);
  });
});
