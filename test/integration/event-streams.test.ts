import type { ServerResponse } from 'node:http';
import { constants, createGzip } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultRoutes, SECRET } from '../helpers/gateway.js';
import { EventStreamClient } from '../helpers/event-stream.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * SPEC §10: event streams through the proxy, from a `csrf: false` route (an EventSource cannot add
 * X-CSRF). The upstream sends event N+1 only once the client holds event N whole, so any buffering
 * on the way (headers held for the first body bytes, a body collected whole, the leak guard's
 * hold-back) deadlocks and fails the bounded wait naming the event that did not arrive.
 */

let alice: string;
const env = useGateway({
  config: {
    routes: [{ path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false }, ...defaultRoutes],
  },
});
beforeAll(async () => {
  alice = await login(env.gw.url);
});

const clients: EventStreamClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

function open(path = '/events/feed', session: string | undefined = alice): EventStreamClient {
  const client = new EventStreamClient(`${env.gw.url}${path}`, session === undefined ? {} : { session });
  clients.push(client);
  return client;
}

/** Runs the upstream's side: a failed wait (the gateway buffered) ends the upstream response too. */
function upstreamScript(script: (res: ServerResponse) => Promise<void>): void {
  env.upstream.handle((_req, res) => {
    script(res).catch(() => res.destroy());
  });
}

describe('event streams are relayed event by event', () => {
  it('the headers leave at once, and each event reaches the client before the upstream sends the next', async () => {
    let client!: EventStreamClient;
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      await client.headers();
      for (let n = 1; n <= 5; n++) {
        res.write(`id: ${n}\nevent: tick\ndata: event ${n}\n\n`);
        await client.event(n);
      }
      res.end();
    });
    client = open();
    const response = await client.headers();
    expect(client.events, 'no event was sent before the headers were seen').toEqual([]);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['x-accel-buffering']).toBe('no');
    expect(response.headers['content-encoding']).toBeUndefined();
    for (let n = 1; n <= 5; n++) expect(await client.event(n)).toBe(`id: ${n}\nevent: tick\ndata: event ${n}`);
    await client.closed();
    expect(client.ended).toBe(true);
    expect(env.upstream.seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(env.upstream.seen[0]!.headers.cookie).toBeUndefined();
  });

  it('an event that ends on the first bytes of the secret is still delivered at once', async () => {
    let client!: EventStreamClient;
    const teaser = SECRET.slice(0, 12);
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${teaser}\n\n`);
      await client.event(1);
      res.write(`data: ${SECRET.slice(0, 20)}x\n\n`);
      await client.event(2);
      res.end();
    });
    client = open();
    expect(await client.event(1)).toBe(`data: ${teaser}`);
    expect(await client.event(2)).toBe(`data: ${SECRET.slice(0, 20)}x`);
    await client.closed();
  });

  it('an event stream of declared length is not collected whole', async () => {
    let client!: EventStreamClient;
    const events = ['data: one\n\n', 'data: two\n\n'];
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': String(Buffer.byteLength(events.join(''))) });
      res.write(events[0]);
      await client.event(1);
      res.end(events[1]);
    });
    client = open();
    expect(await client.event(1)).toBe('data: one');
    expect(await client.event(2)).toBe('data: two');
  });

  it('a gzip-encoded event stream is decoded (for the leak guard) and still relayed event by event', async () => {
    let client!: EventStreamClient;
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
      const gzip = createGzip();
      gzip.pipe(res);
      for (let n = 1; n <= 3; n++) {
        gzip.write(`data: zipped ${n}\n\n`);
        // What a streaming server does after each event: emit everything compressed so far.
        gzip.flush(constants.Z_SYNC_FLUSH);
        await client.event(n);
      }
      gzip.end();
    });
    client = open('/events/feed', alice);
    for (let n = 1; n <= 3; n++) expect(await client.event(n)).toBe(`data: zipped ${n}`);
    expect(client.response!.headers['content-encoding']).toBeUndefined();
  });

  it('is served from a csrf: false route without X-CSRF, and still needs a session', async () => {
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: hi\n\n');
    });
    const anonymous = await call(env.gw.url, '/events/feed', { csrf: false });
    expect(anonymous.status).toBe(401);
    expect(env.upstream.seen).toHaveLength(0);
    const client = open();
    expect(await client.event(1)).toBe('data: hi');
  });
});

describe('open event streams are findable by session and user', () => {
  it('registers the stream under its session handle while it is open, and closeSession ends it', async () => {
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      await new Promise<void>((resolve) => res.on('close', resolve));
    });
    const connections = env.gw.gateway.openConnections;
    const [session] = await env.gw.gateway.services.store.sessions.list({ userName: 'alice' });
    const handle = session!.handle;
    const client = open();
    expect(await client.event(1)).toBe('data: first');
    expect(connections.countFor(handle)).toBe(1);
    expect(connections.closeSession(handle, 4401, 'session ended')).toBe(1);
    await client.closed();
    expect(client.events).toEqual(['data: first']);
    await expect.poll(() => connections.countFor(handle), { timeout: 2000 }).toBe(0);
  });

  it('closeUser ends every stream of the user; a client that leaves unregisters its stream', async () => {
    upstreamScript(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: open\n\n');
      await new Promise<void>((resolve) => res.on('close', resolve));
    });
    const connections = env.gw.gateway.openConnections;
    const [session] = await env.gw.gateway.services.store.sessions.list({ userName: 'alice' });
    const handle = session!.handle;
    const first = open();
    const second = open();
    await first.event(1);
    await second.event(1);
    expect(connections.countFor(handle)).toBe(2);
    second.destroy();
    await expect.poll(() => connections.countFor(handle), { timeout: 2000 }).toBe(1);
    expect(connections.closeUser('alice', 4401, 'user locked')).toBe(1);
    await first.closed();
    await expect.poll(() => connections.countFor(handle), { timeout: 2000 }).toBe(0);
  });
});

describe('no upstream timeout once an event stream\'s headers have arrived', () => {
  const short = useGateway((upstream) => ({
    config: {
      upstreams: [{ name: 'api', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '200ms' }],
      routes: [{ path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false }, ...defaultRoutes],
    },
  }));

  it('a stream quiet for longer than upstream.timeout stays open (proven by a request the timeout ended meanwhile)', async () => {
    let speak!: () => void;
    const spoken = new Promise<void>((resolve) => (speak = resolve));
    short.upstream.handle((req, res) => {
      if (req.url === '/slow') return; // never answers: the gateway's 504 marks the timeout's passing
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      void spoken.then(() => res.end('data: after the quiet spell\n\n'));
    });
    const session = await login(short.gw.url);
    const client = new EventStreamClient(`${short.gw.url}/events/quiet`, { session });
    clients.push(client);
    expect(await client.event(1)).toBe(': open');
    const slow = await call(short.gw.url, '/api/slow', { session });
    expect(slow.status).toBe(504);
    speak();
    expect(await client.event(2)).toBe('data: after the quiet spell');
    await client.closed();
    expect(client.ended).toBe(true);
  });
});
