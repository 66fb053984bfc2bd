import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/attack.js';
import { EventStreamClient } from '../helpers/event-stream.js';
import { defaultRoutes, defaultUpstream, startGateway, type TestGateway } from '../helpers/gateway.js';
import { login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { closed, nextMessage, openOrFail, startWebSocketUpstream, type TestWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10 for connections on `public: true` routes, which have no session: they are in the
 * gateway's open-connections registry like a session's (so stopping ends them after draining), yet
 * nothing that ends sessions may close them. A real gateway, ws client, upstreams on 127.0.0.1.
 */

let upstream: TestUpstream;
let wsUpstream: TestWebSocketUpstream;
let gw: TestGateway;
let stopped = false;

/** `…/feed` streams stay open until the gateway lets go. */
function streamingUpstream(req: IncomingMessage, res: ServerResponse): void {
  if (!req.url?.endsWith('/feed')) {
    res.end('ok');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: open\n\n');
}

beforeAll(async () => {
  upstream = await startUpstream();
  upstream.handle(streamingUpstream);
  wsUpstream = await startWebSocketUpstream();
});
afterAll(async () => {
  await wsUpstream.close();
  await upstream.close();
});
beforeEach(async () => {
  stopped = false;
  gw = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      upstreams: [defaultUpstream(upstream.url), { name: 'live', url: wsUpstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' }],
      routes: [
        { path: '/open-ws/**', upstream: 'live', websocket: true, public: true, stripPrefix: '/open-ws' },
        { path: '/open-events/**', methods: ['GET'], upstream: 'api', public: true, csrf: false, stripPrefix: '/open-events' },
        { path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false },
        ...defaultRoutes,
      ],
    },
  });
});
const clients: EventStreamClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  if (!stopped) await gw.close();
  wsUpstream.reset();
});

function stream(path: string, session?: string): EventStreamClient {
  const client = new EventStreamClient(`${gw.url}${path}`, session === undefined ? {} : { session });
  clients.push(client);
  return client;
}

describe('a WebSocket on a public route', () => {
  it('stays open past the session watch\'s ticks: it has no session that could have ended', async () => {
    const socket = await openOrFail(gw.url, '/open-ws/echo');
    const closes: number[] = [];
    socket.on('close', (code: number) => closes.push(code));
    // The watch looks at every new connection within 250 ms (decision 0014), and then every 250 ms.
    await sleep(800);
    expect(closes).toEqual([]);
    socket.send('still here');
    expect((await nextMessage(socket)).data.toString()).toBe('still here');
    socket.close();
  });

  it('is not closed when every session is revoked', async () => {
    const socket = await openOrFail(gw.url, '/open-ws/echo');
    const closes: number[] = [];
    socket.on('close', (code: number) => closes.push(code));
    await login(gw.url);
    await gw.gateway.services.sessions.revokeAll({ user: 'test' }, 'test');
    await sleep(300);
    expect(closes).toEqual([]);
    socket.close();
  });

  it('is closed with 1001 when the gateway stops', async () => {
    const socket = await openOrFail(gw.url, '/open-ws/echo');
    const closing = closed(socket, 5_000);
    stopped = true;
    await gw.close();
    expect((await closing).code).toBe(1001);
  });
});

describe('stopping ends open event streams, on public routes and session routes alike', () => {
  it('both end cleanly (the chunked end, not a cut) right after draining, not after the 10 s grace', async () => {
    const alice = await login(gw.url);
    const open = [stream('/open-events/feed'), stream('/events/feed', alice)];
    for (const client of open) expect(await client.event(1)).toBe('data: open');
    // Past the session watch's first look (250 ms): until the stop, nothing else ends them.
    await sleep(600);
    expect(open.map((client) => client.ended || client.cut)).toEqual([false, false]);

    const started = performance.now();
    stopped = true;
    await gw.close();
    const took = performance.now() - started;
    for (const client of open) {
      await client.closed(1000);
      expect({ ended: client.ended, cut: client.cut }).toEqual({ ended: true, cut: false });
    }
    // The drain waits up to 10 s for in-flight requests: a stream it did not know of held it that long.
    expect(took).toBeLessThan(5_000);
  }, 30_000);
});
