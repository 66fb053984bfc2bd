import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeLogin, startProvider, type TestProvider } from '../../test/helpers/oidc-provider.js';
import { startDemoUpstream, type DemoUpstream } from './server.js';

/*
 * The demo upstream's GET /v1/me: the route behind a `user-token` upstream, which says whose
 * access token it received. The attack: calling it without the user's valid token (none, the
 * static upstream token, a made-up one, a revoked one) to be told it is someone.
 */

const staticToken = 'the-static-upstream-token';
const clientId = 'demo-client';
const clientSecret = 'demo-client-secret-6f1e2d3c4b5a';
const redirectUri = 'http://localhost:8080/auth/oidc/callback/demo';

let provider: TestProvider;
let upstream: DemoUpstream;

beforeAll(async () => {
  provider = await startProvider({
    clients: [{ clientId, clientSecret, redirectUris: [redirectUri] }],
    accounts: [{ sub: 'river-0001', name: 'River Song', preferred_username: 'river', email: 'river@demo.example', email_verified: true }],
  });
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, token: staticToken, userTokens: { issuer: provider.issuer } });
});

afterAll(async () => {
  await upstream?.close();
  await provider?.close();
});

/** A real authorization code login at the provider (PKCE): the tokens a relying party gets. */
async function realLogin(): Promise<{ config: client.Configuration; accessToken: string }> {
  const config = await client.discovery(new URL(provider.issuer), clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorization = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const callback = await completeLogin(authorization.href, provider.issuer, { login: 'river-0001' });
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
  return { config, accessToken: tokens.access_token };
}

async function me(headers: Record<string, string> = {}): Promise<{ status: number; challenge: string | null; text: string }> {
  const response = await fetch(`${upstream.url}/v1/me`, { headers });
  return { status: response.status, challenge: response.headers.get('www-authenticate'), text: await response.text() };
}

describe('the demo upstream\'s "whose token" route', () => {
  it('answers a user\'s valid access token with whose it is, as the provider says, never echoing the token', async () => {
    const { accessToken } = await realLogin();
    const reply = await me({ authorization: `Bearer ${accessToken}` });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ tokenOwner: { sub: 'river-0001', name: 'River Song', username: 'river', email: 'river@demo.example' } });
    expect(reply.text).not.toContain(accessToken);
  });

  it('refuses a request without a token: 401 with the bare Bearer challenge (RFC 6750 §3)', async () => {
    const reply = await me();
    expect(reply.status).toBe(401);
    expect(reply.challenge).toBe('Bearer realm="demo-upstream"');
    expect(JSON.parse(reply.text)).toMatchObject({ error: { code: 'invalid_token' } });
    expect((await me({ authorization: 'Basic cml2ZXI6cGFzc3dvcmQ=' })).status).toBe(401);
  });

  it('refuses the static upstream token, which opens every other route: it is nobody\'s token', async () => {
    expect((await fetch(`${upstream.url}/v1/today`, { headers: { authorization: `Bearer ${staticToken}` } })).status).toBe(200);
    const reply = await me({ authorization: `Bearer ${staticToken}` });
    expect(reply.status).toBe(401);
    expect(reply.challenge).toBe('Bearer realm="demo-upstream", error="invalid_token"');
  });

  it('refuses a made-up token and a token the provider revoked', async () => {
    expect((await me({ authorization: 'Bearer made-up-token-0123456789abcdefghijklmnopq' })).status).toBe(401);
    const { config, accessToken } = await realLogin();
    expect((await me({ authorization: `Bearer ${accessToken}` })).status).toBe(200);
    await client.tokenRevocation(config, accessToken, { token_type_hint: 'access_token' });
    expect((await me({ authorization: `Bearer ${accessToken}` })).status).toBe(401);
  });

  it('a user\'s access token opens only this route, not the static token\'s', async () => {
    const { accessToken } = await realLogin();
    expect((await fetch(`${upstream.url}/v1/today`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(401);
  });

  it('answers 503 while the provider cannot be asked, and works again once it is back', async () => {
    const { accessToken } = await realLogin();
    await provider.pause();
    try {
      expect((await me({ authorization: `Bearer ${accessToken}` })).status).toBe(503);
    } finally {
      await provider.resume();
    }
    expect((await me({ authorization: `Bearer ${accessToken}` })).status).toBe(200);
  });
});
