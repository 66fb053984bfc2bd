import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { auditEvents, rawExchange, rawHead, sleep } from '../helpers/attack.js';
import { call } from '../helpers/http.js';
import { beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * User-token echo: an upstream that receives the user's own access token (`credential: user-token`)
 * reflects it (a debug endpoint dumping request headers, an error page quoting the request), or
 * somehow returns the session's refresh or ID token. SPEC §9 "The leak guard watches for the user's
 * tokens too": the response is withheld with 502 secret_leak_blocked (or the stream is cut), no
 * fragment of the token reaches the client, and a secret_leak_blocked audit event names no token.
 */
describe('an upstream echoing the user\'s token is blocked like a secret echo', () => {
  let world: OidcWorld;
  let session: string;
  let tokens: { idToken: string; accessToken: string; refreshToken: string };

  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, corp: { scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'] } });
    // oidc-provider issues a refresh token for offline_access only with prompt=consent.
    const journey = await beginJourney(world, { login: 'sub-admin', rewrite: (url) => url.searchParams.set('prompt', 'consent') });
    session = (await finishJourney(world, journey)).cookie!;
    const [live] = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.ada' });
    const record = await world.gw.gateway.services.store.oidc.getSession(live!.handle);
    tokens = JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(live!.handle), record!.sealedTokens).toString('utf8')) as typeof tokens;
    expect(tokens.refreshToken.length, 'offline_access gave a refresh token to echo').toBeGreaterThan(20);
  });
  afterAll(async () => {
    await world?.close();
  });

  const fragments = (): string[] => [tokens.accessToken, tokens.refreshToken, tokens.idToken].map((t) => t.slice(0, 12));

  async function expectWithheld(respond: (res: ServerResponse, bearer: string) => void): Promise<void> {
    const before = (await auditEvents(world.gw, 'secret_leak_blocked')).length;
    world.orders!.handle((req, res) => respond(res, String(req.headers.authorization).slice('Bearer '.length)));
    const reply = await rawExchange(world.gw.gateway.port, rawHead('GET /orders/debug HTTP/1.1', { session, csrf: true }), { timeoutMs: 5000 });
    for (const fragment of fragments()) expect(reply.bytes.includes(fragment), 'a token fragment reached the client').toBe(false);
    if (reply.statuses[0] === 502) expect(reply.text).toContain('"secret_leak_blocked"');
    else expect(reply.closed, 'the stream was cut').toBe(true);
    await expect.poll(async () => (await auditEvents(world.gw, 'secret_leak_blocked')).length, { timeout: 2000 }).toBe(before + 1);
    const [event] = await auditEvents(world.gw, 'secret_leak_blocked');
    expect(event!.detail).toMatchObject({ upstream: 'orders' });
    for (const fragment of fragments()) expect(JSON.stringify(event)).not.toContain(fragment);
    for (const fragment of fragments()) expect(world.gw.logs()).not.toContain(fragment);
  }

  test('an upstream that does not echo is relayed, and it got the access token (so the refusals are about the echo)', async () => {
    world.orders!.handle(null);
    const reply = await call(world.gw.url, '/orders/debug', { session });
    expect(reply.status).toBe(200);
    expect(world.orders!.seen.at(-1)!.headers.authorization).toBe(`Bearer ${tokens.accessToken}`);
  });

  test('the access token echoed in a small body → 502', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`you sent Bearer ${bearer}`);
    });
  });

  test('the access token JSON- and URL-encoded in a body → 502', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ next: `/x?token=${encodeURIComponent(bearer)}` }));
    });
  });

  test('the access token echoed in a response header → 502', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'x-debug-authorization': `Bearer ${bearer}` });
      res.end('ok');
    });
  });

  test('the access token split across chunks of a streamed body → withheld or cut, no fragment delivered', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      // The first chunk ends with the 12 bytes fragments() looks for: the guard must hold them back.
      res.write(`${'a'.repeat(64 * 1024)} token: ${bearer.slice(0, 12)}`);
      void sleep(50).then(() => res.end(`${bearer.slice(12)} end`));
    });
  });

  test('the access token in an event of an event stream, split across two writes → the stream is cut (SPEC §10)', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Event streams are relayed event by event: the complete first event goes out, the start of
      // the token after it must still be held back until the rest proves it a token.
      res.write(`data: hello\n\ndata: ${bearer.slice(0, 12)}`);
      void sleep(50).then(() => res.end(`${bearer.slice(12)}\n\n`));
    });
  });

  test('the refresh token in a body → 502 (the upstream never got it, but it must not pass either)', async () => {
    await expectWithheld((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`refresh: ${tokens.refreshToken}`);
    });
  });

  test('the ID token in a body → 502', async () => {
    await expectWithheld((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`id: ${tokens.idToken}`);
    });
  });
});
