import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/attack.js';
import { defaultRoutes, defaultUpstream } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { liveUpstream, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * A WebSocket upgrade pipelined (RFC 9112 §9.3.2) behind a request still being answered: Node reads
 * it at once, and answering it on the busy socket threw an unhandled rejection, which ends a Node
 * process that has no handler for them (a one-connection denial of service). The upgrade must wait
 * for that response, then be checked and relayed like any other (SPEC §10).
 */

const ws = useWebSocketUpstream({ reset: true });

const env = useGateway((upstream) => ({
  config: {
    upstreams: [defaultUpstream(upstream.url), liveUpstream(ws.upstream.url)],
    routes: [{ path: '/ws/**', upstream: 'live', websocket: true, stripPrefix: '/ws' }, ...defaultRoutes],
  },
}));

describe('a WebSocket upgrade pipelined behind a slow request', () => {
  it.each([
    { ahead: 1, answers: [200, 101] },
    { ahead: 2, answers: [200, 200, 101] },
  ])('behind $ahead slow request(s), is answered after all of them ($answers), and the gateway keeps serving', async ({ ahead, answers }) => {
    const alice = await login(env.gw.url);
    env.upstream.handle((_req, res) => setTimeout(() => res.end('{"slow":true}'), 300));
    const url = new URL(env.gw.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const slow = Array.from({ length: ahead }, (_, i) => [`GET /api/slow${i} HTTP/1.1`, `Host: ${url.host}`, `Cookie: gatehouse=${alice}`, 'X-CSRF: 1', '', '']);
    socket.write([
      ...slow.flat(),
      'GET /ws/echo HTTP/1.1', `Host: ${url.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
      'Origin: http://localhost:8080', `Cookie: gatehouse=${alice}`, '', '',
    ].join('\r\n'));
    const deadline = Date.now() + 5_000;
    while (!/HTTP\/1\.1 101/.test(text) && Date.now() < deadline) await sleep(10);
    expect([...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))).toEqual(answers);
    expect(ws.upstream.handshakes).toHaveLength(1);
    socket.destroy();
    env.upstream.handle(null);
    expect((await call(env.gw.url, '/api/after', { session: alice })).status).toBe(200);
  });
});
