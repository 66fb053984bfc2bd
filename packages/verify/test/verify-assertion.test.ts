import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../src/index.js';
import { audience, fakeClock, issuer, newKey, request, sign, startJwksServer, verifierFor, type JwksServer, type TestKey } from './helpers.js';

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await newKey('key-1');
  jwks = await startJwksServer([key]);
});
afterAll(() => jwks.close());

describe('createVerifier.verify', () => {
  it('accepts the gateway\'s assertion for this request and returns its claims', async () => {
    const clock = fakeClock();
    const result = await verifierFor(jwks, clock).verify(request(await sign(key, clock.now())));
    expect(result).toMatchObject({ ok: true, claims: { iss: issuer, aud: audience, sub: 'alice', sid: 'sess-1', htm: 'GET', htu: `${audience}/v1/today` } });
  });

  it('ignores the query and fragment when comparing htu (RFC 9449 §4.3)', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now(), { claims: { htu: `${audience}/v1/today?ignored=1` } });
    expect(await verifierFor(jwks, clock).verify(request(token, { url: '/v1/today?page=2' }))).toMatchObject({ ok: true });
  });

  it('accepts an assertion without sub (a public route)', async () => {
    const clock = fakeClock();
    const result = await verifierFor(jwks, clock).verify(request(await sign(key, clock.now(), { omit: ['sub', 'sid'] })));
    expect(result.ok && result.claims.sub).toBe(undefined);
    expect(result.ok).toBe(true);
  });

  it('accepts a fetch Headers object', async () => {
    const clock = fakeClock();
    const headers = new Headers({ 'Gatehouse-Assertion': await sign(key, clock.now()) });
    expect(await verifierFor(jwks, clock).verify({ method: 'GET', url: '/v1/today', headers })).toMatchObject({ ok: true });
  });

  it('refuses a request without an assertion: missing', async () => {
    const verifier = verifierFor(jwks, fakeClock());
    expect(await verifier.verify(request(undefined))).toEqual({ ok: false, reason: 'missing' });
    expect(await verifier.verify(request(''))).toEqual({ ok: false, reason: 'missing' });
  });

  it.each([
    ['not a JWT', async () => 'not-a-jwt'],
    ['alg none', async () => 'eyJhbGciOiJub25lIiwia2lkIjoia2V5LTEifQ.eyJzdWIiOiJhbGljZSJ9.'],
    ['HS256, a symmetric algorithm', async (now: number) => new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).setIssuedAt(Math.floor(now / 1000)).sign(new Uint8Array(32))],
    ['no kid', async (now: number) => sign(key, now, { header: { kid: undefined } })],
    ['another typ (a different kind of JWT)', async (now: number) => sign(key, now, { header: { typ: 'JWT' } })],
    ['no htm', async (now: number) => sign(key, now, { omit: ['htm'] })],
    ['no htu', async (now: number) => sign(key, now, { omit: ['htu'] })],
    ['no jti', async (now: number) => sign(key, now, { omit: ['jti'] })],
    ['a non-string sub', async (now: number) => sign(key, now, { claims: { sub: 42 } })],
    ['a lifetime over 60 s', async (now: number) => sign(key, now, { lifetime: 3600 })],
    ['an audience array', async (now: number) => sign(key, now, { claims: { aud: [audience] } })],
  ])('refuses %s: malformed', async (_name, make) => {
    const clock = fakeClock();
    expect(await verifierFor(jwks, clock).verify(request(await make(clock.now())))).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses the header sent twice: malformed', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now());
    const result = await verifierFor(jwks, clock).verify({ method: 'GET', url: '/v1/today', headers: { 'gatehouse-assertion': [token, token] } });
    expect(result).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses an assertion signed by another key under a published kid: bad_signature', async () => {
    const clock = fakeClock();
    const forger = await newKey('key-1');
    expect(await verifierFor(jwks, clock).verify(request(await sign(forger, clock.now())))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a tampered payload: bad_signature', async () => {
    const clock = fakeClock();
    const [head, , signature] = (await sign(key, clock.now())).split('.');
    const payload = Buffer.from(JSON.stringify({ iss: issuer, aud: audience, sub: 'admin', jti: 'x', htm: 'GET', htu: `${audience}/v1/today`, iat: Math.floor(clock.now() / 1000), exp: Math.floor(clock.now() / 1000) + 60 })).toString('base64url');
    expect(await verifierFor(jwks, clock).verify(request(`${head}.${payload}.${signature}`))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses an expired assertion, allowing the clock tolerance: expired', async () => {
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { clockTolerance: 5 });
    const token = await sign(key, clock.now());
    clock.advance(64_000);
    expect(await verifier.verify(request(token))).toMatchObject({ ok: true });
    const later = await sign(key, clock.now() - 64_000);
    clock.advance(2_000);
    expect(await verifier.verify(request(later))).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses an assertion issued in the future: not_yet_valid', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now(), { iat: Math.floor(clock.now() / 1000) + 30 });
    expect(await verifierFor(jwks, clock).verify(request(token))).toEqual({ ok: false, reason: 'not_yet_valid' });
  });

  it('refuses another issuer: wrong_issuer', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now(), { claims: { iss: 'https://other-gateway.example' } });
    expect(await verifierFor(jwks, clock).verify(request(token))).toEqual({ ok: false, reason: 'wrong_issuer' });
  });

  it('refuses an assertion for another upstream: wrong_audience', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now(), { claims: { aud: 'http://127.0.0.1:9001', htu: 'http://127.0.0.1:9001/v1/today' } });
    expect(await verifierFor(jwks, clock).verify(request(token))).toEqual({ ok: false, reason: 'wrong_audience' });
  });

  it('refuses an assertion for another method: wrong_method', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now());
    expect(await verifierFor(jwks, clock).verify(request(token, { method: 'DELETE' }))).toEqual({ ok: false, reason: 'wrong_method' });
  });

  it.each([
    ['another path', '/v1/notes'],
    ['a path that only shares a prefix', '/v1/today/extra'],
    ['a protocol-relative target', '//127.0.0.1:9000/v1/today'],
    ['an absolute-form target', 'http://127.0.0.1:9000/v1/today'],
    ['an asterisk-form target', '*'],
  ])('refuses %s: wrong_url', async (_name, url) => {
    const clock = fakeClock();
    const token = await sign(key, clock.now());
    expect(await verifierFor(jwks, clock).verify(request(token, { url }))).toEqual({ ok: false, reason: 'wrong_url' });
  });

  it('refuses an htu on another origin even with the right path: wrong_url', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now(), { claims: { htu: 'http://127.0.0.1:9001/v1/today' } });
    expect(await verifierFor(jwks, clock).verify(request(token))).toEqual({ ok: false, reason: 'wrong_url' });
  });

  it('refuses the same assertion twice within its lifetime: replayed', async () => {
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock);
    const token = await sign(key, clock.now());
    expect(await verifier.verify(request(token))).toMatchObject({ ok: true });
    clock.advance(30_000);
    expect(await verifier.verify(request(token))).toEqual({ ok: false, reason: 'replayed' });
  });

  it('does not let a refused assertion consume its jti', async () => {
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock);
    const token = await sign(key, clock.now());
    expect(await verifier.verify(request(token, { method: 'POST' }))).toEqual({ ok: false, reason: 'wrong_method' });
    expect(await verifier.verify(request(token))).toMatchObject({ ok: true });
  });

  it('keeps replay caches apart between verifiers (no module-level state)', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now());
    expect(await verifierFor(jwks, clock).verify(request(token))).toMatchObject({ ok: true });
    expect(await verifierFor(jwks, clock).verify(request(token))).toMatchObject({ ok: true });
  });

  it('refuses a kid the gateway does not publish: unknown_key', async () => {
    const clock = fakeClock();
    const stranger = await newKey('key-unknown');
    expect(await verifierFor(jwks, clock).verify(request(await sign(stranger, clock.now())))).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('refuses when the JWKS cannot be fetched: jwks_unavailable', async () => {
    const clock = fakeClock();
    const down = await startJwksServer([key]);
    down.mode = 'error';
    try {
      expect(await verifierFor(down, clock).verify(request(await sign(key, clock.now())))).toEqual({ ok: false, reason: 'jwks_unavailable' });
    } finally {
      await down.close();
    }
  });

  it('never puts the token in a refusal', async () => {
    const clock = fakeClock();
    const token = await sign(key, clock.now(), { claims: { iss: 'https://other.example' } });
    const result = await verifierFor(jwks, clock).verify(request(token));
    expect(JSON.stringify(result)).not.toContain(token.slice(0, 20));
  });
});

describe('createVerifier options', () => {
  const base = { jwksUrl: 'https://gatehouse.example/.well-known/jwks.json', issuer, audience };

  it('rejects an unknown option', () => {
    expect(() => createVerifier({ ...base, audiance: audience } as never)).toThrow(/unknown option "audiance"/);
  });

  it('rejects an audience that is not an origin', () => {
    expect(() => createVerifier({ ...base, audience: 'http://127.0.0.1:9000/api' })).toThrow(/origin/);
    expect(() => createVerifier({ ...base, audience: 'not a url' })).toThrow(/origin/);
  });

  it('accepts an audience with a trailing slash', () => {
    expect(() => createVerifier({ ...base, audience: `${audience}/` })).not.toThrow();
  });

  it('refuses a plain-http JWKS off loopback unless loudly opted in', () => {
    expect(() => createVerifier({ ...base, jwksUrl: 'http://gatehouse.example/.well-known/jwks.json' })).toThrow(/https/);
    expect(() => createVerifier({ ...base, jwksUrl: 'http://localhost:8080/.well-known/jwks.json' })).not.toThrow();
    expect(() => createVerifier({ ...base, jwksUrl: 'http://[::1]:8080/.well-known/jwks.json' })).not.toThrow();
  });

  it('rejects nonsense durations and sizes', () => {
    expect(() => createVerifier({ ...base, fetchTimeoutMs: 0 })).toThrow(/fetchTimeoutMs/);
    expect(() => createVerifier({ ...base, cooldownMs: -1 })).toThrow(/cooldownMs/);
    expect(() => createVerifier({ ...base, replayCacheSize: 0 })).toThrow(/replayCacheSize/);
    expect(() => createVerifier({ ...base, clockTolerance: Number.NaN })).toThrow(/clockTolerance/);
  });
});
