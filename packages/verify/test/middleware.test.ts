import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fastifyPlugin, nodeMiddleware, type GatehouseRequest } from '../src/index.js';
import { audience, expectRefused, fakeClock, newKey, sign, startJwksServer, verifierFor, type JwksServer, type TestKey } from './helpers.js';

let key: TestKey;
let jwks: JwksServer;
const clock = fakeClock();
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

/** Serves `handler` on 127.0.0.1; requests go there, the assertions name `audience`, as behind the gateway. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function assertion(path = '/v1/today', method = 'GET'): Promise<string> {
  return sign(key, clock.now(), { claims: { htu: `${audience}${path}`, htm: method } });
}

function ok(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

describe('nodeMiddleware (node:http)', () => {
  it('answers 401 JSON and stops without an assertion; passes the claims on with one', async () => {
    const guard = nodeMiddleware(verifierFor(jwks, clock));
    let handled = 0;
    const base = await serve(async (req, res) => {
      const claims = await guard(req, res);
      if (!claims) return;
      handled += 1;
      ok(res, { sub: claims.sub, same: (req as GatehouseRequest).gatehouse === claims });
    });

    await expectRefused(await fetch(`${base}/v1/today`, { headers: { authorization: 'Bearer the-right-token' } }), 'missing');
    expect(handled).toBe(0);

    const response = await fetch(`${base}/v1/today?x=1`, { headers: { 'gatehouse-assertion': await assertion() } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: 'alice', same: true });
  });

  it('calls next() on success and not on refusal, Connect-style', async () => {
    const guard = nodeMiddleware(verifierFor(jwks, clock));
    const nexts: unknown[] = [];
    const base = await serve((req, res) => {
      void guard(req, res, (error) => {
        nexts.push(error);
        ok(res, { next: true });
      });
    });
    await expectRefused(await fetch(`${base}/v1/notes`, { method: 'POST', headers: { 'gatehouse-assertion': await assertion() } }), 'wrong_method');
    expect(nexts).toEqual([]);
    expect((await fetch(`${base}/v1/today`, { headers: { 'gatehouse-assertion': await assertion() } })).status).toBe(200);
    expect(nexts).toEqual([undefined]);
  });

  it('answers 503 when the verifier cannot fetch the keys', async () => {
    const down = await startJwksServer([key]);
    down.mode = 'error';
    const guard = nodeMiddleware(verifierFor(down, clock));
    const base = await serve((req, res) => void guard(req, res));
    const response = await fetch(`${base}/v1/today`, { headers: { 'gatehouse-assertion': await assertion() } });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: 'jwks_unavailable' } });
    await down.close();
  });
});

describe('fastifyPlugin', () => {
  it('refuses with 401 JSON before the handler, or sets request.gatehouse; covers routes in other plugins', async () => {
    const app = Fastify();
    await app.register(fastifyPlugin(verifierFor(jwks, clock)));
    let handled = 0;
    app.get('/v1/today', async (request) => {
      handled += 1;
      return { sub: (request as unknown as GatehouseRequest).gatehouse?.sub };
    });
    await app.register(async (child) => {
      child.post('/v1/notes', async () => ({ created: true }));
    });
    await app.ready();
    try {
      const refused = await app.inject({ method: 'GET', url: '/v1/today' });
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Gatehouse-Assertion error="missing"');
      expect(refused.json()).toMatchObject({ error: { code: 'missing' } });
      expect(handled).toBe(0);

      const accepted = await app.inject({ method: 'GET', url: '/v1/today?x=1', headers: { 'gatehouse-assertion': await assertion() } });
      expect(accepted.statusCode).toBe(200);
      expect(accepted.json()).toEqual({ sub: 'alice' });

      const inChild = await app.inject({ method: 'POST', url: '/v1/notes', payload: { text: 'hi' }, headers: { 'gatehouse-assertion': await assertion('/v1/today') } });
      expect(inChild.statusCode).toBe(401);
      expect(inChild.json()).toMatchObject({ error: { code: 'wrong_method' } });
      const created = await app.inject({ method: 'POST', url: '/v1/notes', payload: { text: 'hi' }, headers: { 'gatehouse-assertion': await assertion('/v1/notes', 'POST') } });
      expect(created.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
