import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/attack.js';
import { defaultRoutes, defaultUpstream, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
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
    const { socket, received } = await silentPeer(gw.url, '/ws/echo', alice);
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));

    const elapsed = await Promise.race([stop(), sleep(6_000).then(() => Infinity)]);
    expect(elapsed).toBeLessThan(6_000);
    await ended;
    // It was sent a close frame with 1001 (FIN + opcode 8, then the code) before it was dropped.
    const frames = Buffer.concat(received);
    const at = frames.indexOf(Buffer.from([0x88]));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(frames.readUInt16BE(at + 2)).toBe(1001);
  }, 15_000);
});

/**
 * A WebSocket client on a raw TCP connection that completes the handshake and then reads without
 * ever answering anything, the close frame included (a hung or malicious browser).
 */
async function silentPeer(base: string, path: string, session: string): Promise<{ socket: Socket; received: Buffer[] }> {
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write([
    `GET ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    'Origin: http://localhost:8080',
    `Cookie: gatehouse=${session}`,
    '', '',
  ].join('\r\n'));
  const received: Buffer[] = [];
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      if (!text.startsWith('HTTP/1.1 101')) return reject(new Error(`handshake refused: ${text.split('\r\n')[0]}`));
      const rest = Buffer.from(text.slice(end + 4), 'latin1');
      if (rest.length > 0) received.push(rest);
      socket.on('data', (more: Buffer) => received.push(more));
      resolve();
    };
    socket.on('data', onData);
  });
  return { socket, received };
}

describe('an upgrade pipelined behind a request still being answered (see test/security/pipelined-websocket-upgrade.test.ts)', () => {
  it('is answered 503 not_ready, not relayed, when the gateway is stopping', async () => {
    const alice = await login(gw.url);
    const { socket, text: received } = await pipelined(alice);
    while (!upstream.seen.some((r) => r.url === '/slow')) await sleep(10);
    await stop();
    const text = received();
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 503]);
    expect(text).toContain('not_ready');
    expect(wsUpstream.handshakes).toHaveLength(0);
    socket.destroy();
  });
});

/** One connection carrying a slow GET and, pipelined behind it, a WebSocket upgrade. */
async function pipelined(alice: string): Promise<{ socket: Socket; text: () => string }> {
  const url = new URL(gw.url);
  const socket = connect(Number(url.port), url.hostname);
  socket.on('error', () => undefined);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // Node reads the pipelined upgrade at once, while the slow GET is still in flight.
  socket.write([
    'GET /api/slow HTTP/1.1', `Host: ${url.host}`, `Cookie: gatehouse=${alice}`, 'X-CSRF: 1', '', '',
    'GET /ws/echo HTTP/1.1', `Host: ${url.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
    'Origin: http://localhost:8080', `Cookie: gatehouse=${alice}`, '', '',
  ].join('\r\n'));
  return { socket, text: () => text };
}
