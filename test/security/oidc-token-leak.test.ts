import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { oidcLoginAad, oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { call, type Reply } from '../helpers/http.js';
import { beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Token and protocol-secret leakage in an OIDC journey (SPEC §9: "No code, state, nonce, verifier or
 * token appears in a log or an error, nor in a URL sent to the browser", with the exception of state,
 * nonce and challenge in the redirect to the provider; "Tokens are stored encrypted"). A full login,
 * a session check, a proxied call, a call to a user-token route (whose upstream gets the access
 * token, and only it) and a refused replay are made; every response's status line,
 * headers (Set-Cookie included) and body, every log line, every audit event, every request the
 * upstream saw and the raw bytes of the SQLite files are searched for the ID, access and refresh
 * tokens (and the ID token's signature alone), the code, the state, the nonce and the PKCE verifier.
 */
describe('nothing secret of an OIDC login leaves the server or sits in the store in clear', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, corp: { scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'] } });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('a full journey', async () => {
    const replies: Reply[] = [];
    const journey = await beginJourney(world, { login: 'sub-admin', rewrite: (url) => url.searchParams.set('prompt', 'consent') });
    replies.push(journey.start);
    const authorization = new URL(journey.authorizationUrl);
    const callback = new URL(journey.callback);
    const state = authorization.searchParams.get('state')!;
    const nonce = authorization.searchParams.get('nonce')!;
    const code = callback.searchParams.get('code')!;

    // The verifier exists only sealed in the login state: read it the way a thief with the key would.
    const keyring = world.gw.gateway.services.keyring;
    const db = new Database(join(world.gw.dir, 'gatehouse.db'), { readonly: true });
    const row = db.prepare('SELECT state_hash, sealed FROM oidc_login_states').get() as { state_hash: string; sealed: string };
    db.close();
    const { verifier } = JSON.parse(open(keyring, oidcLoginAad(row.state_hash), row.sealed).toString('utf8')) as { verifier: string };

    const done = await finishJourney(world, journey);
    expect(done.status).toBe(303);
    replies.push(done);
    const session = done.cookie!;
    replies.push(await call(world.gw.url, '/auth/session', { session }));
    replies.push(await call(world.gw.url, '/api/whoami', { session }));
    // A user-token route: the access token goes to `orders` (and only there), never back.
    const userTokenRoute = await call(world.gw.url, '/orders/mine', { session, headers: { authorization: 'Bearer client-own' } });
    expect(userTokenRoute.status).toBe(200);
    replies.push(userTokenRoute);
    // A refused user-token request (no session) says nothing of anyone's tokens either.
    replies.push(await call(world.gw.url, '/orders/mine', {}));
    replies.push(await finishJourney(world, journey));
    // A refusal after the state was accepted (a wrong iss), which is logged: its code and state too.
    const refused = await beginJourney(world, { login: 'sub-admin' });
    const refusedUrl = new URL(refused.callback);
    refusedUrl.searchParams.set('iss', 'https://evil.example');
    const refusal = await call(world.gw.url, `${refusedUrl.pathname}${refusedUrl.search}`, { csrf: false, headers: { cookie: refused.loginCookie } });
    expect(refusal.json().error.code).toBe('oidc_response_invalid');
    replies.push(refusal);

    const [live] = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.ada' });
    const record = await world.gw.gateway.services.store.oidc.getSession(live!.handle);
    const tokens = JSON.parse(open(keyring, oidcTokensAad(live!.handle), record!.sealedTokens).toString('utf8')) as { idToken: string; accessToken: string; refreshToken: string | null };
    expect(tokens.idToken.split('.')).toHaveLength(3);
    expect(tokens.accessToken.length).toBeGreaterThan(20);
    expect(tokens.refreshToken?.length ?? 0, 'offline_access gave a refresh token to look for').toBeGreaterThan(20);
    // The one place the access token may go: the user-token upstream, and nothing else of the session.
    expect(world.orders!.seen.map((s) => s.headers.authorization)).toEqual([`Bearer ${tokens.accessToken}`]);
    expect(JSON.stringify(world.orders!.seen.map((s) => ({ headers: s.headers, body: s.body.toString('latin1') })))).not.toContain(tokens.refreshToken);

    const secrets: Record<string, string> = {
      idToken: tokens.idToken,
      idTokenSignature: tokens.idToken.split('.')[2]!,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken!,
      code,
      state,
      nonce,
      verifier,
      refusedCode: refusedUrl.searchParams.get('code')!,
      refusedState: refusedUrl.searchParams.get('state')!,
    };
    const seen: Record<string, string> = {
      ...Object.fromEntries(replies.map((r, i) => [`reply ${i}`, `${r.status}\n${JSON.stringify(i === 0 ? { ...r.headers, location: undefined } : r.headers)}\n${r.text}`])),
      'reply 0 location': String(journey.start.headers.location),
      logs: world.gw.logs(),
      audit: JSON.stringify(await world.gw.gateway.services.store.audit.recent(100)),
      upstream: JSON.stringify(world.upstream.seen.map((s) => ({ url: s.url, headers: s.headers, body: s.body.toString('latin1') }))),
      store: readdirSync(world.gw.dir).filter((f) => f.startsWith('gatehouse.db')).map((f) => readFileSync(join(world.gw.dir, f)).toString('latin1')).join('\n'),
    };
    for (const [what, value] of Object.entries(secrets)) {
      for (const [where, text] of Object.entries(seen)) {
        // SPEC §9's one exception: state and nonce travel in the redirect to the provider.
        if (where === 'reply 0 location' && (what === 'state' || what === 'nonce')) continue;
        if (where === 'reply 0 location' && what.startsWith('refused')) continue;
        expect(text.includes(value), `${what} found in ${where}`).toBe(false);
      }
    }
    // And the exception is what it should be: the challenge, never the verifier itself.
    expect(seen['reply 0 location']).toContain('code_challenge=');
  });
});
