import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { auditEvents, sleep } from '../helpers/attack.js';
import { defaultRoutes, defaultUpstream, SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { closed, liveUpstream, nextMessage, openOrFail, openSocket, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10: WebSockets through the whole pipeline, with a real ws client, a real gateway and a real
 * ws upstream on 127.0.0.1.
 */

const ws = useWebSocketUpstream();
const pingIntervalMs = 250;

const env = useGateway((upstream) => ({
  webSocketPingIntervalMs: pingIntervalMs,
  users: [{ name: 'alice', roles: ['user'] }, { name: 'bob', roles: ['user'] }],
  config: {
    server: { trustedProxies: ['127.0.0.1/32'] },
    upstreams: [
      defaultUpstream(upstream.url),
      liveUpstream(ws.upstream.url),
      { name: 'signed', url: `${ws.upstream.url}/base`, credential: { type: 'header', name: 'X-Api-Key', secret: 'api-token' }, assertion: true, timeout: '2s' },
    ],
    routes: [
      { path: '/ws/**', upstream: 'live', websocket: true, stripPrefix: '/ws' },
      { path: '/ws-admin/**', upstream: 'live', websocket: true, roles: ['admin'] },
      { path: '/ws-mfa/**', upstream: 'live', websocket: true, mfa: true },
      { path: '/ws-rated/**', upstream: 'live', websocket: true },
      { path: '/ws-signed/**', upstream: 'signed', websocket: true, stripPrefix: '/ws-signed' },
      { path: '/ws-small/**', upstream: 'live', websocket: true, maxMessageSize: '1kb' },
      { path: '/plain/**', upstream: 'live' },
      ...defaultRoutes,
    ],
    limits: [{ name: 'ws-rated', match: '/ws-rated/**', by: 'user', max: 1, per: '1m', action: 'reject' }],
    ipRules: { deny: ['203.0.113.0/24'] },
  },
}));

let alice: string;
beforeAll(async () => {
  alice = await login(env.gw.url);
});
const open: WebSocket[] = [];
afterEach(async () => {
  for (const socket of open.splice(0)) socket.terminate();
  ws.upstream.reset();
  await sleep(20);
});

async function socketFor(path: string, options: Parameters<typeof openOrFail>[2] = {}): Promise<WebSocket> {
  const socket = await openOrFail(env.gw.url, path, { session: alice, ...options });
  open.push(socket);
  return socket;
}

async function refusal(path: string, options: Parameters<typeof openSocket>[2] = {}): Promise<{ status: number; code: string | undefined }> {
  const opened = await openSocket(env.gw.url, path, options);
  if (opened.kind === 'open') {
    open.push(opened.socket);
    throw new Error('the socket was let through');
  }
  return { status: opened.status, code: opened.body?.error?.code };
}

describe('the upgrade passes the checks of any request (SPEC §10)', () => {
  it('is refused with the normal HTTP error, before the upstream, without a session, a role, a second factor or an admitted address', async () => {
    expect(await refusal('/ws/echo')).toEqual({ status: 401, code: 'unauthenticated' });
    expect(await refusal('/ws-admin/x', { session: alice })).toEqual({ status: 403, code: 'forbidden' });
    expect(await refusal('/ws-mfa/x', { session: alice })).toEqual({ status: 403, code: 'mfa_required' });
    expect(await refusal('/ws/echo', { session: alice, headers: { 'x-forwarded-for': '203.0.113.7' } })).toEqual({ status: 403, code: 'ip_blocked' });
    expect(await refusal('/ws/echo', { session: alice, headers: { host: 'evil.example' } })).toEqual({ status: 421, code: 'misdirected_request' });
    expect(ws.upstream.connections).toBe(0);
  });

  it('counts the upgrade as one request for the rate rules', async () => {
    await socketFor('/ws-rated/x');
    expect(await refusal('/ws-rated/x', { session: alice })).toEqual({ status: 429, code: 'rate_limited' });
    expect(ws.upstream.handshakes).toHaveLength(1);
  });

  it('answers 400 bad_request on a route without websocket: true, and 404 where nothing is', async () => {
    expect(await refusal('/plain/x', { session: alice })).toEqual({ status: 400, code: 'bad_request' });
    expect(await refusal('/auth/session', { session: alice })).toEqual({ status: 400, code: 'bad_request' });
    expect(await refusal('/nothing/here', { session: alice })).toEqual({ status: 404, code: 'not_found' });
    expect(ws.upstream.connections).toBe(0);
  });

  it('answers 502 when the upstream refuses its handshake', async () => {
    expect(await refusal('/ws/refuse', { session: alice })).toEqual({ status: 502, code: 'upstream_unavailable' });
  });
});

describe('the upstream handshake (SPEC §10, §4.4)', () => {
  it('carries the credential, X-Forwarded-* and the request id, never the cookie, X-CSRF or the client\'s own credentials', async () => {
    const opened = await openSocket(env.gw.url, '/ws/echo?room=1', {
      session: alice,
      headers: { 'x-csrf': '1', authorization: 'Bearer client-own', 'proxy-authorization': 'Basic eDp5', 'x-forwarded-host': 'evil.example' },
    });
    expect(opened.kind).toBe('open');
    if (opened.kind !== 'open') return;
    open.push(opened.socket);
    const seen = ws.upstream.handshakes[0]!;
    expect(seen.url).toBe('/echo?room=1');
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['x-csrf']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('localhost:8080');
    expect(seen.headers['x-request-id']).toMatch(/.+/);
    expect(opened.headers['x-request-id']).toBe(seen.headers['x-request-id']);
  });

  it('carries a Gatehouse-Assertion and a header credential when the upstream is configured so, to its base path', async () => {
    await socketFor('/ws-signed/feed');
    const seen = ws.upstream.handshakes[0]!;
    expect(seen.url).toBe('/base/feed');
    expect(seen.headers['x-api-key']).toBe(SECRET);
    expect(seen.headers['gatehouse-assertion']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('passes the offered subprotocols and answers with the one the upstream chose', async () => {
    const socket = await socketFor('/ws/echo', { protocols: ['chat.v2', 'chat.v1'] });
    expect(socket.protocol).toBe('chat.v2');
    expect(ws.upstream.handshakes[0]!.headers['sec-websocket-protocol']).toBe('chat.v2,chat.v1');
  });
});

describe('relaying (SPEC §10)', () => {
  it('delivers what the upstream sends at once on connecting', async () => {
    ws.upstream.behave((upstream) => {
      upstream.send('welcome');
      upstream.send('and again');
    });
    // A raw client listening from the start: the messages may arrive with the 101 itself.
    const socket = new WebSocket(`${env.gw.url.replace(/^http/, 'ws')}/ws/greeting`, { origin: 'http://localhost:8080', headers: { cookie: `gatehouse=${alice}` } });
    open.push(socket);
    const received: string[] = [];
    socket.on('message', (data: Buffer) => received.push(data.toString()));
    await sleep(100);
    expect(received).toEqual(['welcome', 'and again']);
  });

  it('relays text and binary both ways', async () => {
    const socket = await socketFor('/ws/echo');
    socket.send('hello');
    const text = await nextMessage(socket);
    expect(text).toEqual({ data: Buffer.from('hello'), isBinary: false });
    socket.send(Buffer.from([0, 1, 2, 255]));
    const binary = await nextMessage(socket);
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([0, 1, 2, 255]);
  });

  it('relays a message of exactly maxMessageSize (default 1mb), and fragmented messages whole, both ways', async () => {
    const socket = await socketFor('/ws/echo');
    const large = Buffer.alloc(1024 * 1024, 7);
    socket.send(large);
    expect((await nextMessage(socket)).data.equals(large)).toBe(true);

    ws.upstream.behave((upstream) => {
      upstream.on('message', () => {
        upstream.send('part one, ', { fin: false });
        upstream.send('part two', { fin: true });
      });
    });
    const fragmented = await socketFor('/ws/echo');
    fragmented.send('first ', { fin: false });
    fragmented.send('second', { fin: true });
    const seen = new Promise<string>((resolve) => ws.upstream.sockets.at(-1)!.once('message', (data: Buffer) => resolve(data.toString())));
    expect((await nextMessage(fragmented)).data.toString()).toBe('part one, part two');
    expect(await seen).toBe('first second');
  });

  it('closes with 1009 a message over maxMessageSize from the browser, and the upstream side with it', async () => {
    const socket = await socketFor('/ws-small/x');
    const upstreamSide = ws.upstream.sockets[0]!;
    const upstreamClosed = closed(upstreamSide);
    socket.send(Buffer.alloc(1025));
    expect((await closed(socket)).code).toBe(1009);
    expect((await upstreamClosed).code).toBe(1009);
  });

  it('closes with 1009 a message over maxMessageSize from the upstream, undelivered', async () => {
    ws.upstream.behave((upstream) => {
      upstream.on('message', () => upstream.send(Buffer.alloc(1025)));
    });
    const socket = await socketFor('/ws-small/x');
    let delivered = 0;
    socket.on('message', () => delivered++);
    socket.send('go');
    expect((await closed(socket)).code).toBe(1009);
    expect(delivered).toBe(0);
  });

  it('propagates close codes and reasons both ways', async () => {
    const socket = await socketFor('/ws/echo');
    const upstreamClosed = closed(ws.upstream.sockets[0]!);
    socket.close(4000, 'bye from the browser');
    expect(await upstreamClosed).toEqual({ code: 4000, reason: 'bye from the browser' });

    const second = await socketFor('/ws/echo');
    const secondClosed = closed(second);
    ws.upstream.sockets.at(-1)!.close(4001, 'bye from the upstream');
    expect(await secondClosed).toEqual({ code: 4001, reason: 'bye from the upstream' });
  });

  it('closes the browser\'s side with 1014 when the upstream drops, and the upstream\'s when the browser does', async () => {
    const socket = await socketFor('/ws/echo');
    const socketClosed = closed(socket);
    ws.upstream.sockets[0]!.terminate();
    expect((await socketClosed).code).toBe(1014);

    const second = await socketFor('/ws/echo');
    const upstreamClosed = closed(ws.upstream.sockets.at(-1)!);
    second.terminate();
    expect((await upstreamClosed).code).toBe(1001);
  });
});

describe('while open', () => {
  it('counts messages from the browser as session activity (idle timeout 30m)', async () => {
    const socket = await socketFor('/ws/echo');
    env.gw.clock.advance(20 * 60_000);
    socket.send('still here');
    await nextMessage(socket);
    env.gw.clock.advance(20 * 60_000);
    expect((await call(env.gw.url, '/api/x', { session: alice })).status).toBe(200);
  });

  it('pings the browser and keeps a socket that answers', async () => {
    const socket = await socketFor('/ws/echo');
    let pings = 0;
    socket.on('ping', () => pings++);
    await sleep(pingIntervalMs * 4);
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });

  it('terminates a browser that does not answer pings, and closes the upstream side (1001)', async () => {
    const socket = await socketFor('/ws/echo', { autoPong: false });
    const upstreamClosed = closed(ws.upstream.sockets[0]!);
    expect((await closed(socket)).code).toBe(1006);
    expect((await upstreamClosed).code).toBe(1001);
  });

  it('allows at most 20 open WebSockets per session (429 too_many_connections), and another once one closes', async () => {
    const bob = await login(env.gw.url, 'bob');
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 20; i++) sockets.push(await socketFor('/ws/echo', { session: bob }));
    expect(await refusal('/ws/echo', { session: bob })).toEqual({ status: 429, code: 'too_many_connections' });
    expect(ws.upstream.handshakes).toHaveLength(20);
    // Another session of the same user is not limited by this one's sockets.
    await socketFor('/ws/echo', { session: await login(env.gw.url, 'bob') });
    const first = sockets[0]!;
    first.close();
    await closed(first);
    await sleep(50);
    await socketFor('/ws/echo', { session: bob });
    expect(await auditEvents(env.gw, 'secret_leak_blocked')).toHaveLength(0);
  });
});

describe('revocation reaches open sockets (SPEC §10, decision 0014)', () => {
  it('logout closes the session\'s socket with 4401 within 1 s, and the upstream side closes too; another session\'s socket stays open', async () => {
    const session = await login(env.gw.url, 'bob');
    const socket = await openOrFail(env.gw.url, '/ws/echo', { session });
    open.push(socket);
    const upstreamSide = ws.upstream.sockets.at(-1)!;
    const others = await socketFor('/ws/echo');
    const upstreamClosed = closed(upstreamSide);
    const ended = closed(socket, 1000);
    const startedAt = Date.now();
    expect((await call(env.gw.url, '/auth/logout', { method: 'POST', session })).status).toBe(204);
    const how = await ended;
    expect(how.code).toBe(4401);
    expect(Date.now() - startedAt).toBeLessThan(1000);
    await upstreamClosed;
    others.send('still here');
    expect((await nextMessage(others)).data.toString()).toBe('still here');
  });
});
