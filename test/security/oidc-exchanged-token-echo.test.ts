import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { auditEvents, rawExchange, rawHead, sleep } from '../helpers/attack.js';
import { call } from '../helpers/http.js';
import { oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Exchanged-token echo: an upstream behind `credential: { type: user-token, exchange: … }` receives
 * a token the provider issued for it (RFC 8693) and reflects it (a debug endpoint dumping request
 * headers, an error page quoting the request). That token is the user's authority at that upstream
 * as much as the session's own is: SPEC §9 "The leak guard watches for the user's tokens too", so
 * the response is withheld with 502 secret_leak_blocked (or the stream is cut), no fragment of it
 * reaches the client, and neither the audit event nor any log line holds it.
 */
describe('an upstream echoing the exchanged token is blocked like an echo of the user\'s token', () => {
  let world: OidcWorld;
  let session: string;
  let exchanged: string;

  beforeAll(async () => {
    world = await startOidcWorld({
      orders: true,
      ordersExchange: { audience: 'https://orders.api', scope: 'orders.read' },
      provider: { tokenExchange: { audiences: { 'https://orders.api': ['orders.read'] } } },
    });
    session = (await oidcLogin(world, 'sub-user')).session;
    world.orders!.handle(null);
    const reply = await call(world.gw.url, '/orders/debug', { session });
    expect(reply.status).toBe(200);
    exchanged = String(world.orders!.seen.at(-1)!.headers.authorization).slice('Bearer '.length);
    // What is echoed below is the exchanged token, not the session's own.
    expect(await world.provider.inspect(exchanged)).toMatchObject({ exchanged: true, aud: 'https://orders.api' });
  });
  afterAll(async () => {
    await world?.close();
  });

  const fragment = (): string => exchanged.slice(0, 12);

  async function expectWithheld(respond: (res: ServerResponse, bearer: string) => void): Promise<void> {
    const before = (await auditEvents(world.gw, 'secret_leak_blocked')).length;
    world.orders!.handle((req, res) => respond(res, String(req.headers.authorization).slice('Bearer '.length)));
    const reply = await rawExchange(world.gw.gateway.port, rawHead('GET /orders/debug HTTP/1.1', { session, csrf: true }), { timeoutMs: 5000 });
    expect(reply.bytes.includes(fragment()), 'a fragment of the exchanged token reached the client').toBe(false);
    if (reply.statuses[0] === 502) expect(reply.text).toContain('"secret_leak_blocked"');
    else expect(reply.closed, 'the stream was cut').toBe(true);
    await expect.poll(async () => (await auditEvents(world.gw, 'secret_leak_blocked')).length, { timeout: 2000 }).toBe(before + 1);
    const [event] = await auditEvents(world.gw, 'secret_leak_blocked');
    expect(event!.detail).toMatchObject({ upstream: 'orders' });
    expect(JSON.stringify(event)).not.toContain(fragment());
    expect(world.gw.logs()).not.toContain(fragment());
  }

  test('echoed in a small body → 502', async () => {
    await expectWithheld((res, bearer) => {
      expect(bearer).toBe(exchanged);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`you sent Bearer ${bearer}`);
    });
  });

  test('JSON- and URL-encoded in a body → 502', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ next: `/x?token=${encodeURIComponent(bearer)}` }));
    });
  });

  test('echoed in a response header → 502', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'x-debug-authorization': `Bearer ${bearer}` });
      res.end('ok');
    });
  });

  test('split across chunks of a streamed body → withheld or cut, no fragment delivered', async () => {
    await expectWithheld((res, bearer) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${'a'.repeat(64 * 1024)} token: ${bearer.slice(0, 12)}`);
      void sleep(50).then(() => res.end(`${bearer.slice(12)} end`));
    });
  });

  test('no log line of the gateway holds the exchanged token', () => {
    expect(world.gw.logs()).not.toContain(exchanged);
    expect(world.gw.logs()).not.toContain(fragment());
  });
});
