import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/attack.js';
import { defaultRoutes, defaultUpstream, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { silentPeer } from '../helpers/silent-websocket-peer.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { closed, echo, openOrFail, useWebSocketUpstream, type TestWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10, issue 14 item 6: stopping (what SIGTERM runs in `serve`) lets in-flight HTTP requests
 * finish first, then closes WebSockets with 1001; a peer that never answers the close frame does
 * not hold the stop for ws's 30 s. A real gateway, real ws client and upstreams on 127.0.0.1.
 */

const slowMs = 700;
let upstream: TestUpstream;
let wsUpstream: TestWebSocketUpstream;
let gw: TestGateway;
let stopped = false;
const ws = useWebSocketUpstream({ reset: true });

beforeEach(async () => {
  upstream = await startUpstream();
  upstream.handle((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"slow":true}');
    }, slowMs);
  });
  wsUpstream = ws.upstream;
  stopped = false;
  gw = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      upstreams: [defaultUpstream(upstream.url), { name: 'live', url: wsUpstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' }],
      routes: [{ path: '/ws/**', upstream: 'live', websocket: true, stripPrefix: '/ws' }, ...defaultRoutes],
    },
  });
});
afterEach(async () => {
  if (!stopped) await gw.close();
  await upstream.close();
});

async function stop(): Promise<number> {
  const started = performance.now();
  stopped = true;
  await gw.close();
  return performance.now() - started;
}

describe('stopping with open WebSockets (SPEC §10)', () => {
  it('lets an in-flight HTTP request finish with 200 before it closes a WebSocket with 1001, and takes no new connection', async () => {
    const upstreamCloses: number[] = [];
    wsUpstream.behave((peer, handshake) => {
      echo(peer, handshake);
      peer.on('close', (code: number) => upstreamCloses.push(code));
    });
    const alice = await login(gw.url);
    const socket = await openOrFail(gw.url, '/ws/echo', { session: alice });
    const order: string[] = [];
    const socketClosed = closed(socket, 10_000).then((close) => {
      order.push(`websocket ${close.code}`);
      return close;
    });
    const slow = call(gw.url, '/api/slow', { session: alice }).then((reply) => {
      order.push(`http ${reply.status}`);
      return reply;
    });
    while (!upstream.seen.some((r) => r.url === '/slow')) await sleep(10);

    const stopping = stop();
    await sleep(50);
    // The port is closed at once: no new connection, so no new socket.
    await expect(call(gw.url, '/api/other', { session: alice })).rejects.toThrow();

    expect((await slow).status).toBe(200);
    expect((await socketClosed).code).toBe(1001);
    await stopping;
    expect(order).toEqual(['http 200', 'websocket 1001']);
    // The upstream side is told the gateway is going away too.
    while (upstreamCloses.length === 0) await sleep(10);
    expect(upstreamCloses).toEqual([1001]);
  });

  it('drops a browser that never answers the close frame within a short bound, not ws\'s 30 s', async () => {
    const alice = await login(gw.url);
    const peer = await silentPeer(gw.url, '/ws/echo', alice);
    const ended = new Promise<void>((resolve) => peer.socket.once('close', () => resolve()));

    const elapsed = await Promise.race([stop(), sleep(6_000).then(() => Infinity)]);
    expect(elapsed).toBeLessThan(6_000);
    await ended;
    // It was sent a close frame with 1001 before it was dropped.
    expect(peer.closeFrame()?.code).toBe(1001);
  }, 15_000);
});
