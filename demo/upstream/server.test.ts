import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { SECRET, startGateway, type TestGateway } from '../../test/helpers/gateway.js';
import { call as callGateway, login } from '../../test/helpers/http.js';
import { startDemoUpstream, type DemoUpstream } from './server.js';

/*
 * The attack: the upstream's bearer token has leaked, and someone calls the upstream directly with
 * it. Behind assertions (SPEC §7) the token alone is not enough.
 */

const token = 'the-right-token';
const issuer = 'http://localhost:8080';
let signingKey: CryptoKey;
let jwks: Server;
let jwksUrl: string;
let upstream: DemoUpstream;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  signingKey = pair.privateKey;
  const body = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }] });
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, token, assertion: { jwksUrl, issuer } });
});

afterAll(async () => {
  await upstream.close();
  await new Promise<void>((resolve) => jwks.close(() => resolve()));
});

/** What Gatehouse would send for `method path`. */
function assertion(method: string, path: string, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: upstream.url, sub: 'demo', sid: 'h1', jti: randomUUID(), htm: method, htu: `${upstream.url}${path}`, iat: now, exp: now + 60, ...claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'gatehouse-assertion+jwt' })
    .sign(signingKey);
}

async function call(path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; body: { error?: { code: string } } & Record<string, unknown> }> {
  const response = await fetch(`${upstream.url}${path}`, { method, headers });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
}

describe('the demo upstream behind assertions', () => {
  it('refuses a direct call with the right bearer token but no assertion', async () => {
    const { status, body } = await call('/v1/today', { authorization: `Bearer ${token}` });
    expect(status).toBe(401);
    expect(body.error?.code).toBe('missing');
  });

  it('still refuses a call without the token, assertion or not', async () => {
    const { status, body } = await call('/v1/today', { 'gatehouse-assertion': await assertion('GET', '/v1/today') });
    expect(status).toBe(401);
    expect(body.error?.code).toBe('unauthorized');
  });

  it('refuses an assertion captured from another request', async () => {
    const { status, body } = await call('/v1/notes', { authorization: `Bearer ${token}`, 'gatehouse-assertion': await assertion('GET', '/v1/today') }, 'POST');
    expect(status).toBe(401);
    expect(body.error?.code).toBe('wrong_method');
  });

  it('answers the gateway\'s request, once, and says who Gatehouse says is asking', async () => {
    const headers = { authorization: `Bearer ${token}`, 'gatehouse-assertion': await assertion('GET', '/v1/whoami') };
    const first = await call('/v1/whoami', headers);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ authenticated: true, assertion: { issuer, user: 'demo', session: 'h1' } });
    const replay = await call('/v1/whoami', headers);
    expect(replay.status).toBe(401);
    expect(replay.body.error?.code).toBe('replayed');
  });

  it('without assertion options, the token is enough (as before)', async () => {
    const plain = await startDemoUpstream({ host: '127.0.0.1', port: 0, token });
    try {
      const response = await fetch(`${plain.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ authenticated: true, headers: {} });
    } finally {
      await plain.close();
    }
  });
});

/** Opens the live feed directly: the handshake's HTTP status when refused, else the first two messages. */
function openLive(headers: Record<string, string>): Promise<{ status: number } | { messages: unknown[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${upstream.url.replace(/^http/, 'ws')}/v1/live`, { headers });
    const messages: unknown[] = [];
    socket.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      socket.terminate();
    });
    socket.on('message', (data) => {
      messages.push(JSON.parse(String(data)) as unknown);
      if (messages.length === 2) {
        resolve({ messages });
        socket.close();
      }
    });
    socket.on('error', (error) => reject(error));
  });
}

describe('the demo upstream\'s live feed (GET /v1/live, a WebSocket)', () => {
  it('refuses the handshake without the token, and with the token alone, before any message', async () => {
    const before = upstream.liveHandshakes();
    expect(await openLive({ 'gatehouse-assertion': await assertion('GET', '/v1/live') })).toEqual({ status: 401 });
    expect(await openLive({ authorization: `Bearer ${token}` })).toEqual({ status: 401 });
    expect(upstream.liveHandshakes()).toBe(before + 2);
  });

  it('sends a reading a second to the gateway\'s handshake', async () => {
    const started = Date.now();
    const result = await openLive({ authorization: `Bearer ${token}`, 'gatehouse-assertion': await assertion('GET', '/v1/live') });
    expect(result).toMatchObject({ messages: [{ type: 'reading', sequence: 1, location: 'Harbourtown' }, { type: 'reading', sequence: 2 }] });
    const [first] = (result as { messages: { temperatureC: unknown; windKph: unknown }[] }).messages;
    expect(typeof first!.temperatureC).toBe('number');
    expect(typeof first!.windKph).toBe('number');
    // The second comes about a second after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});

describe('the demo upstream behind a real gateway with `assertion: true`', () => {
  let gateway: TestGateway;
  let behind: DemoUpstream;

  beforeAll(async () => {
    const port = await freePort();
    const publicOrigin = 'http://localhost:8080';
    behind = await startDemoUpstream({
      host: '127.0.0.1',
      port: 0,
      token: SECRET,
      assertion: { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: publicOrigin },
    });
    gateway = await startGateway({
      upstreamUrl: behind.url,
      config: {
        server: { host: '127.0.0.1', port, publicOrigin },
        upstreams: [{ name: 'api', url: behind.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s', assertion: true }],
      },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await behind?.close();
  });

  it('verifies what the gateway signs: a public route, a user\'s GET and POST', async () => {
    const anonymous = await callGateway(gateway.url, '/api/public/v1/whoami');
    expect(anonymous.status).toBe(200);
    expect(anonymous.json()).toMatchObject({ authenticated: true, assertion: { issuer: 'http://localhost:8080', user: null, session: null } });

    const session = await login(gateway.url);
    const whoami = await callGateway(gateway.url, '/api/v1/whoami?cache=no', { session });
    expect(whoami.status).toBe(200);
    expect(whoami.json()).toMatchObject({ assertion: { user: 'alice' } });
    expect(whoami.json().assertion.session).toEqual(expect.any(String));

    const note = await callGateway(gateway.url, '/api/v1/notes', { method: 'POST', session, body: { text: 'signed' } });
    expect(note.status).toBe(201);
  });

  it('refuses the same call made directly with the token the gateway holds', async () => {
    const response = await fetch(`${behind.url}/v1/whoami`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'missing' } });
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
