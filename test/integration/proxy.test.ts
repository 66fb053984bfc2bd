import { request as httpRequest } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

let alice: string;
let bob: string;

const env = useGateway({ users: [{ name: 'alice', roles: ['user'] }, { name: 'bob', roles: ['admin'] }] });
beforeAll(async () => {
  alice = await login(env.gw.url, 'alice');
  bob = await login(env.gw.url, 'bob');
});

describe('the allowlist, in SPEC order', () => {
  it('404 for a path no route matches, without contacting the upstream', async () => {
    const reply = await call(env.gw.url, '/nothing/here', { session: alice });
    expect(reply.status).toBe(404);
    expect(reply.json()).toEqual({ error: { code: 'not_found', message: 'Nothing is here.' } });
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('405 for a method the route does not list (before the session check)', async () => {
    const reply = await call(env.gw.url, '/api/public/x', { method: 'DELETE' });
    expect(reply.status).toBe(405);
    expect(reply.json().error.code).toBe('method_not_allowed');
    expect(reply.headers.allow).toBe('GET, HEAD');
  });

  it('401 without a session, before CSRF', async () => {
    const reply = await call(env.gw.url, '/api/things', { csrf: false });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('unauthenticated');
    expect(reply.headers.location).toBeUndefined();
  });

  it('403 csrf_rejected without X-CSRF, before the role check', async () => {
    const reply = await call(env.gw.url, '/api/admin/x', { session: alice, csrf: false });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('csrf_rejected');
  });

  it('403 forbidden without a listed role', async () => {
    const reply = await call(env.gw.url, '/api/admin/x', { session: alice });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    expect((await call(env.gw.url, '/api/admin/x', { session: bob })).status).toBe(200);
    expect(env.upstream.seen).toHaveLength(1);
  });

  it('forwards an allowed request with the secret attached once, path stripped, query kept', async () => {
    const reply = await call(env.gw.url, '/api/v1/items?q=a%20b&x=1', { session: alice });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ ok: true, method: 'GET', url: '/v1/items?q=a%20b&x=1' });
    const seen = env.upstream.seen[0]!;
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'authorization')).toHaveLength(1);
    expect(seen.headers['x-request-id']).toBe(reply.headers['x-request-id']);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('localhost:8080');
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['x-csrf']).toBeUndefined();
  });

  it('a public route needs no session but still gets the secret', async () => {
    const reply = await call(env.gw.url, '/api/public/status');
    expect(reply.status).toBe(200);
    expect(env.upstream.seen[0]!.url).toBe('/status');
    expect(env.upstream.seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('a csrf: false route needs no X-CSRF (plain links and downloads)', async () => {
    const reply = await call(env.gw.url, '/api/download/report.csv', { session: alice, csrf: false, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(reply.status).toBe(200);
  });

  it('HEAD is allowed where GET is', async () => {
    expect((await call(env.gw.url, '/api/public/x', { method: 'HEAD' })).status).toBe(200);
  });
});

describe('bodies and responses', () => {
  it('streams a request body to the upstream', async () => {
    env.upstream.handle((req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ got: body.toString() }));
    });
    const reply = await call(env.gw.url, '/api/notes', { method: 'POST', session: alice, body: { text: 'hello' } });
    expect(reply.status).toBe(201);
    expect(reply.json()).toEqual({ got: '{"text":"hello"}' });
  });

  it('streams a response of unknown length as it comes, holding back only what could start a secret', async () => {
    let finish: () => void = () => undefined;
    const upstreamDone = new Promise<void>((resolve) => { finish = resolve; });
    env.upstream.handle((_req, res) => {
      // Not an event stream: those release each complete event at once (event-streams.test.ts).
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`data: ${'x'.repeat(1000)}\n\n`);
      void upstreamDone.then(() => res.end('data: last\n\n'));
    });
    const { request } = await import('undici');
    const reply = await request(`${env.gw.url}/api/events`, { headers: { 'x-csrf': '1', cookie: `gatehouse=${alice}` } });
    const iterator = (reply.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const first = await iterator.next();
    // SPEC §4.4: the leak guard keeps the last (secret length - 1) bytes until more arrive.
    const released = first.value!.toString();
    expect(released.length).toBe(1008 - (SECRET.length - 1));
    expect(released.startsWith('data: xxx')).toBe(true);
    finish();
    let rest = '';
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest += next.value.toString();
    expect(released + rest).toBe(`data: ${'x'.repeat(1000)}\n\ndata: last\n\n`);
  });

  it('relays upstream redirects without following them', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(302, { location: 'http://elsewhere.example/' });
      res.end();
    });
    const reply = await call(env.gw.url, '/api/go', { session: alice });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe('http://elsewhere.example/');
    expect(env.upstream.seen).toHaveLength(1);
  });

  it('strips Set-Cookie, Access-Control-* and hop-by-hop headers from the response', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, {
        'set-cookie': 'tracking=1; Path=/',
        'access-control-allow-origin': '*',
        'access-control-allow-credentials': 'true',
        connection: 'keep-alive, x-private',
        'x-private': 'hop',
        'x-kept': 'yes',
        'content-type': 'text/plain',
      });
      res.end('ok');
    });
    const reply = await call(env.gw.url, '/api/h', { session: alice });
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toBeUndefined();
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(reply.headers['access-control-allow-credentials']).toBeUndefined();
    expect(reply.headers['x-private']).toBeUndefined();
    expect(reply.headers['x-kept']).toBe('yes');
    expect(reply.text).toBe('ok');
  });

  it('413 for a body over maxBodySize, declared or streamed', async () => {
    const big = 'x'.repeat(1024 * 1024 + 1);
    const declared = await call(env.gw.url, '/api/notes', { method: 'POST', session: alice, body: big, headers: { 'content-type': 'text/plain' } });
    expect(declared.status).toBe(413);
    expect(declared.json().error.code).toBe('payload_too_large');
  });
});

describe('upstream failures', () => {
  it('502 upstream_unavailable when the upstream resets, without its address', async () => {
    env.upstream.handle((req) => req.socket.destroy());
    const reply = await call(env.gw.url, '/api/reset', { session: alice, method: 'POST', body: {} });
    expect(reply.status).toBe(502);
    expect(reply.json().error.code).toBe('upstream_unavailable');
    expect(reply.text).not.toContain('127.0.0.1');
    expect(reply.text).not.toContain(String(env.upstream.port));
  });

  it('a client that goes away takes its upstream request with it, and the access line says aborted', async () => {
    let upstreamClosed!: () => void;
    const closedUpstream = new Promise<void>((resolve) => { upstreamClosed = resolve; });
    let reached!: () => void;
    const reachedUpstream = new Promise<void>((resolve) => { reached = resolve; });
    // Never answers: only the gateway giving up on it (the client gone) closes the request.
    env.upstream.handle((req) => {
      req.socket.once('close', () => upstreamClosed());
      reached();
    });
    const client = httpRequest(`${env.gw.url}/api/hanging`, { headers: { cookie: `gatehouse=${alice}`, 'x-csrf': '1' } });
    client.on('error', () => undefined);
    client.end();
    await reachedUpstream;
    const started = Date.now();
    client.destroy();
    await closedUpstream;
    // Well before the upstream timeout (2 s in the test configuration), which would also close it.
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect.poll(() => env.gw.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'request' && l.path === '/api/hanging')).toMatchObject({ aborted: true, user: 'alice' });
  });

  it('504 upstream_timeout when no response headers arrive in time', async () => {
    env.upstream.handle(() => undefined);
    const reply = await call(env.gw.url, '/api/slow', { session: alice });
    expect(reply.status).toBe(504);
    expect(reply.json().error.code).toBe('upstream_timeout');
    expect(reply.text).not.toContain(String(env.upstream.port));
  });
});

describe('the leak guard', () => {
  it('withholds a response whose body contains the secret: 502 and an audit event', async () => {
    env.upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echoed: req.headers.authorization }));
    });
    const reply = await call(env.gw.url, '/api/echo', { session: alice });
    expect(reply.status).toBe(502);
    expect(reply.json().error.code).toBe('secret_leak_blocked');
    expect(reply.text).not.toContain(SECRET);
    const events = await env.gw.gateway.services.store.audit.recent(5);
    expect(events.some((e) => e.type === 'secret_leak_blocked')).toBe(true);
  });

  it('withholds a response whose headers contain the secret', async () => {
    env.upstream.handle((req, res) => {
      res.writeHead(200, { 'x-debug': String(req.headers.authorization) });
      res.end('{}');
    });
    const reply = await call(env.gw.url, '/api/echo', { session: alice });
    expect(reply.status).toBe(502);
    expect(JSON.stringify(reply.headers)).not.toContain(SECRET);
  });

  it('cuts a stream that has started when the secret arrives split across chunks', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'.repeat(5000));
      setTimeout(() => res.write(`data ${SECRET.slice(0, 10)}`), 20);
      setTimeout(() => res.end(`${SECRET.slice(10)} tail`), 40);
    });
    let received = '';
    let failed = false;
    try {
      const reply = await call(env.gw.url, '/api/stream', { session: alice });
      received = reply.text;
    } catch {
      failed = true;
    }
    expect(failed || !received.includes(SECRET.slice(0, 10))).toBe(true);
    expect(received).not.toContain(SECRET);
  });
});
