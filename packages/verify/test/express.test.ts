import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type Express } from 'express';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expressMiddleware, type GatehouseRequest, type Verifier } from '../src/index.js';
import { audience, expectRefused, fakeClock, newKey, sign, startJwksServer, verifierFor, type JwksServer, type TestKey } from './helpers.js';

/*
 * expressMiddleware in a real Express 5 app on 127.0.0.1, fed assertions signed as the gateway
 * signs them and a JWKS served over HTTP. Requests go to the app's own port; the assertions name
 * `audience`, as they would behind the gateway.
 */

let key: TestKey;
let jwks: JwksServer;
const servers: Server[] = [];

beforeAll(async () => {
  key = await newKey();
  jwks = await startJwksServer([key]);
});
afterAll(() => jwks.close());
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  })));
});

async function listen(app: Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function assertion(clock: { now: () => number }, path = '/v1/today', method = 'GET'): Promise<string> {
  return sign(key, clock.now(), { claims: { htu: `${audience}${path}`, htm: method } });
}

function withAssertion(token: string, init: RequestInit = {}): RequestInit {
  return { ...init, headers: { ...init.headers as Record<string, string>, 'gatehouse-assertion': token } };
}

/**
 * The README's setup: the middleware first, a body parser after it, two routes. `reached` lists
 * the requests that got past the middleware (a refused one must not, nor its body be parsed).
 */
async function protectedApp(verifier: Verifier): Promise<{ base: string; reached: string[] }> {
  const reached: string[] = [];
  const app = express();
  app.use(expressMiddleware(verifier));
  app.use((req, _res, next) => {
    reached.push(`${req.method} ${req.originalUrl}`);
    next();
  });
  app.use(express.json());
  app.get('/v1/today', (req, res) => {
    res.json({ claims: (req as GatehouseRequest<typeof req>).gatehouse });
  });
  app.post('/v1/notes', (req, res) => {
    res.status(201).json({ sub: (req as GatehouseRequest<typeof req>).gatehouse?.sub, body: req.body as unknown });
  });
  return { base: await listen(app), reached };
}

describe('expressMiddleware in a real Express app', () => {
  it('sets req.gatehouse to the verified claims and calls next(); the query is not part of htu', async () => {
    const clock = fakeClock();
    const { base, reached } = await protectedApp(verifierFor(jwks, clock));
    const token = await assertion(clock);
    const response = await fetch(`${base}/v1/today?x=1`, withAssertion(token));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ claims: decodeJwt(token) });
    expect(decodeJwt(token)).toMatchObject({ sub: 'alice', sid: 'sess-1', htm: 'GET', htu: `${audience}/v1/today` });
    expect(reached).toEqual(['GET /v1/today?x=1']);

    const posted = await fetch(`${base}/v1/notes`, withAssertion(await assertion(clock, '/v1/notes', 'POST'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hi' }),
    }));
    expect(posted.status).toBe(201);
    expect(await posted.json()).toEqual({ sub: 'alice', body: { text: 'hi' } });
  });

  it('refuses a request without an assertion with 401 JSON; nothing after it runs, the body is not parsed', async () => {
    const clock = fakeClock();
    const { base, reached } = await protectedApp(verifierFor(jwks, clock));
    await expectRefused(await fetch(`${base}/v1/today`, { headers: { authorization: 'Bearer the-right-token' } }), 'missing');
    await expectRefused(await fetch(`${base}/v1/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hi"}' }), 'missing');
    expect(reached).toEqual([]);
  });

  it('refuses an assertion once the clock has passed its exp (and the tolerance)', async () => {
    const clock = fakeClock();
    const { base, reached } = await protectedApp(verifierFor(jwks, clock));
    const token = await assertion(clock);
    clock.advance(66_000);
    await expectRefused(await fetch(`${base}/v1/today`, withAssertion(token)), 'expired');
    expect(reached).toEqual([]);
  });

  it('refuses an assertion issued for another method or another URL', async () => {
    const clock = fakeClock();
    const { base, reached } = await protectedApp(verifierFor(jwks, clock));
    const forGet = await assertion(clock, '/v1/notes', 'GET');
    await expectRefused(await fetch(`${base}/v1/notes`, withAssertion(forGet, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })), 'wrong_method');
    const forNotes = await assertion(clock, '/v1/notes', 'GET');
    await expectRefused(await fetch(`${base}/v1/today`, withAssertion(forNotes)), 'wrong_url');
    expect(reached).toEqual([]);
  });

  it('refuses an assertion it has already accepted (replay cache)', async () => {
    const clock = fakeClock();
    const { base, reached } = await protectedApp(verifierFor(jwks, clock));
    const token = await assertion(clock);
    expect((await fetch(`${base}/v1/today`, withAssertion(token))).status).toBe(200);
    await expectRefused(await fetch(`${base}/v1/today`, withAssertion(token)), 'replayed');
    expect(reached).toEqual(['GET /v1/today']);
  });

  it('answers 503 jwks_unavailable, without a challenge, when the keys cannot be fetched', async () => {
    const clock = fakeClock();
    const down = await startJwksServer([key]);
    down.mode = 'error';
    try {
      const { base, reached } = await protectedApp(verifierFor(down, clock));
      const response = await fetch(`${base}/v1/today`, withAssertion(await assertion(clock)));
      expect(response.status).toBe(503);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('www-authenticate')).toBeNull();
      expect(await response.json()).toMatchObject({ error: { code: 'jwks_unavailable' } });
      expect(reached).toEqual([]);
    } finally {
      await down.close();
    }
  });

  it('checks htu against req.originalUrl in a router mounted under a path', async () => {
    const clock = fakeClock();
    const router = express.Router();
    router.use(expressMiddleware(verifierFor(jwks, clock)));
    router.get('/today', (req, res) => {
      res.json({ sub: (req as GatehouseRequest<typeof req>).gatehouse?.sub, url: req.url, originalUrl: req.originalUrl });
    });
    const app = express();
    app.use('/v1', router);
    const base = await listen(app);

    const response = await fetch(`${base}/v1/today`, withAssertion(await assertion(clock)));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: 'alice', url: '/today', originalUrl: '/v1/today' });
    // Signed for the path the router sees after the mount path is stripped: not the URL the gateway called.
    await expectRefused(await fetch(`${base}/v1/today`, withAssertion(await assertion(clock, '/today'))), 'wrong_url');
  });

  it('hands an unexpected failure to Express as next(error), and returns no promise to reject', async () => {
    const failure = new Error('the verifier broke');
    const broken: Verifier = { verify: () => Promise.reject(failure) };
    const middleware = expressMiddleware(broken);
    const returned: unknown[] = [];
    const handled: unknown[] = [];
    let routeRan = false;
    const app = express();
    app.use((req, res, next) => {
      returned.push(middleware(req, res, next));
    });
    app.get('/v1/today', (_req, res) => {
      routeRan = true;
      res.json({});
    });
    const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
      handled.push(error);
      res.status(500).json({ error: 'handled by the app' });
    };
    app.use(onError);
    const base = await listen(app);

    const response = await fetch(`${base}/v1/today`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'handled by the app' });
    expect(handled).toEqual([failure]);
    expect(returned).toEqual([undefined]);
    expect(routeRan).toBe(false);
  });

  it('leaves Express its default error answer when the app has no error handler', async () => {
    const app = express();
    app.use(expressMiddleware({ verify: () => Promise.reject(new Error('the verifier broke')) }));
    app.get('/v1/today', (_req, res) => {
      res.json({});
    });
    const base = await listen(app);
    const response = await fetch(`${base}/v1/today`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(500);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
