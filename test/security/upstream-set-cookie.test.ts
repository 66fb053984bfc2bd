import type { ServerResponse } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { rawExchange, rawHead } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * An upstream setting state on Gatehouse's origin: a compromised or careless upstream answers with
 * Set-Cookie (overwriting the session cookie — fixation — or planting a second one), Clear-Site-Data
 * (logging the user out of the site), or Access-Control-Allow-* (granting another origin read access
 * to Gatehouse's responses with the user's cookie). SPEC §4.3, §4.4: none of it is relayed.
 */

const attackerId = 'QXR0YWNrZXJDaG9zZW5TZXNzaW9uSWQwMTIzNDU2Nzg5';

const stateHeaders: Record<string, string | string[]> = {
  'set-cookie': [
    `gatehouse=${attackerId}; Path=/; HttpOnly`,
    `__Host-gatehouse=${attackerId}; Path=/; Secure; HttpOnly`,
    `gatehouse=${attackerId}; Path=/api; Domain=localhost`,
    'gatehouse=; Max-Age=0; Path=/',
    'tracking=1; Path=/; SameSite=None; Secure',
  ],
  'set-cookie2': `gatehouse=${attackerId}; Version=1`,
  'clear-site-data': '"cookies", "storage"',
  'access-control-allow-origin': 'https://evil.example',
  'access-control-allow-credentials': 'true',
  'access-control-allow-methods': 'GET, POST, DELETE',
  'access-control-allow-headers': 'x-csrf, content-type',
  'access-control-expose-headers': 'x-request-id',
  'access-control-max-age': '86400',
};

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

/** The raw response head, to be sure no variant of the header slipped through under any spelling. */
async function rawResponseHead(method: string, path: string): Promise<string> {
  const reply = await rawExchange(env.gw.gateway.port, rawHead(`${method} ${path} HTTP/1.1`, { session: alice }));
  expect(reply.statuses.length).toBeGreaterThan(0);
  return reply.text.split('\r\n\r\n', 1)[0]!.toLowerCase();
}

function expectNoState(head: string, label: string): void {
  expect(head, label).not.toContain('set-cookie');
  expect(head, label).not.toContain('clear-site-data');
  expect(head, label).not.toContain('access-control-');
  expect(head, label).not.toContain(attackerId.toLowerCase());
}

describe('upstream Set-Cookie', () => {
  it('on 200, 201, 204, 302, 304, 401, 404 and 500 responses, to GET, HEAD and POST: nothing that sets state reaches the browser', async () => {
    for (const status of [200, 201, 204, 302, 304, 401, 404, 500]) {
      env.upstream.handle((_req, res) => {
        res.writeHead(status, { ...stateHeaders, ...(status === 302 ? { location: '/elsewhere' } : {}), 'content-type': 'text/plain' });
        res.end(status === 204 || status === 304 ? undefined : 'body');
      });
      for (const method of ['GET', 'HEAD', 'POST']) {
        const head = await rawResponseHead(method, '/api/thing');
        expect(head, `${method} ${status}`).toMatch(new RegExp(`^http/1\\.1 ${status} `));
        expectNoState(head, `${method} ${status}`);
      }
    }
  });

  it('the session survives an upstream trying to overwrite or clear it', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, stateHeaders);
      res.end('{}');
    });
    const reply = await call(env.gw.url, '/api/thing', { session: alice });
    expect(reply.status).toBe(200);
    expect(reply.setCookie).toEqual([]);
    expect((await call(env.gw.url, '/auth/session', { session: alice })).status).toBe(200);
    expect((await call(env.gw.url, '/auth/session', { session: attackerId })).status).toBe(401);
  });

  it('Set-Cookie in a 103 Early Hints response or in trailers is not relayed either', async () => {
    env.upstream.handle((_req, res: ServerResponse) => {
      res.writeEarlyHints({ link: '</app.js>; rel=preload', 'set-cookie': `gatehouse=${attackerId}; Path=/` } as Record<string, string>);
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'set-cookie' });
      res.write('streamed');
      res.addTrailers({ 'set-cookie': `gatehouse=${attackerId}; Path=/` });
      res.end();
    });
    const reply = await rawExchange(env.gw.gateway.port, rawHead('GET /api/thing HTTP/1.1', { session: alice, headers: ['TE: trailers'] }));
    expect(reply.statuses).toEqual([200]);
    expect(reply.text.toLowerCase()).not.toContain('set-cookie');
    expect(reply.text).not.toContain(attackerId);
  });

  it('header names are matched in any case the upstream writes them', async () => {
    env.upstream.handle((req, res) => {
      // Raw, oddly cased header lines straight onto the socket.
      req.socket.write(`HTTP/1.1 200 OK\r\nSET-COOKIE: gatehouse=${attackerId}\r\nSet-cookie: x=1\r\nAccess-Control-Allow-Origin: *\r\nACCESS-CONTROL-ALLOW-CREDENTIALS: true\r\nContent-Length: 2\r\n\r\nok`);
      req.socket.end();
      void res;
    });
    expectNoState(await rawResponseHead('GET', '/api/thing'), 'raw upstream');
  });
});
