import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { expect } from 'vitest';
import { createVerifier, type Verifier, type VerifierOptions } from '../src/index.js';

export const issuer = 'https://gatehouse.example';
export const audience = 'http://127.0.0.1:9000';

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function newKey(kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } };
}

export interface JwksServer {
  jwksUrl: string;
  /** What `GET /.well-known/jwks.json` answers from now on. */
  serve(keys: TestKey[]): void;
  /** `ok` answers the keys; `hang` never answers; `error` answers 500; `redirect` answers 302; `huge` answers 1 MB. */
  mode: 'ok' | 'hang' | 'error' | 'redirect' | 'huge';
  readonly requests: number;
  close(): Promise<void>;
}

/** A real JWKS endpoint on 127.0.0.1, as the gateway serves one. */
export async function startJwksServer(keys: TestKey[]): Promise<JwksServer> {
  let body = jwksBody(keys);
  let requests = 0;
  const state = { mode: 'ok' as JwksServer['mode'] };
  const server: Server = createServer((req, res) => {
    requests += 1;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    switch (state.mode) {
      case 'hang': return;
      case 'error': res.writeHead(500).end(); return;
      case 'redirect': res.writeHead(302, { location: '/elsewhere' }).end(); return;
      case 'huge': res.writeHead(200, { 'content-type': 'application/json' }).end(`{"keys":[],"pad":"${'x'.repeat(1024 * 1024)}"}`); return;
      case 'ok': res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    serve(next) {
      body = jwksBody(next);
    },
    get mode() {
      return state.mode;
    },
    set mode(value) {
      state.mode = value;
    },
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function jwksBody(keys: TestKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

/** A fake clock, in milliseconds, starting now. */
export function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => { t += ms; } };
}

export interface AssertionInput {
  claims?: Record<string, unknown>;
  /** Claims to delete from the defaults. */
  omit?: string[];
  header?: Record<string, unknown>;
  /** Seconds since the epoch; default the clock's now. */
  iat?: number;
  lifetime?: number;
}

/** Signs an assertion as the gateway does (SPEC §7), for GET /v1/today on `audience`. */
export async function sign(key: TestKey, nowMs: number, input: AssertionInput = {}): Promise<string> {
  const iat = input.iat ?? Math.floor(nowMs / 1000);
  const payload: Record<string, unknown> = {
    iss: issuer,
    aud: audience,
    sub: 'alice',
    sid: 'sess-1',
    jti: randomUUID(),
    htm: 'GET',
    htu: `${audience}/v1/today`,
    iat,
    exp: iat + (input.lifetime ?? 60),
    ...input.claims,
  };
  for (const name of input.omit ?? []) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'gatehouse-assertion+jwt', ...input.header })
    .sign(key.privateKey);
}

export function verifierFor(jwks: JwksServer, clock: { now: () => number }, options: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({ jwksUrl: jwks.jwksUrl, issuer, audience, now: clock.now, ...options });
}

/** A GET /v1/today request carrying `token`. */
export function request(token: string | undefined, overrides: { method?: string; url?: string } = {}): { method: string; url: string; headers: Record<string, string> } {
  return {
    method: overrides.method ?? 'GET',
    url: overrides.url ?? '/v1/today',
    headers: token === undefined ? {} : { 'gatehouse-assertion': token },
  };
}

/** The refusal every middleware answers (README, "What it checks"): 401, JSON, a challenge naming the reason. */
export async function expectRefused(response: Response, code: string): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('www-authenticate')).toBe(`Gatehouse-Assertion error="${code}"`);
  expect(await response.json()).toMatchObject({ error: { code } });
}
