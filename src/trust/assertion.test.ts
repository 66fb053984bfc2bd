import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { silentLogger } from '../log/logger.js';
import { keyIdOf, type Keyring } from '../secrets/keyring.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom, type RandomBytes } from '../security/random.js';
import type { LiveSession } from '../sessions/session-service.js';
import { sessionRecord, userRecord } from '../storage/contract/fixtures.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { assertionLifetimeSeconds, assertionType, signAssertion, upstreamAssertion } from './assertion.js';
import { SigningKeys } from './signing-keys.js';

const master = Buffer.alloc(32, 0x3c);
const keyring: Keyring = { primary: { id: keyIdOf(master), key: master }, keys: new Map([[keyIdOf(master), master]]) };
/** Mid-second, so the whole-second iat is visibly a floor. */
const start = Date.UTC(2026, 0, 1, 12, 0, 0) + 700;

const live: LiveSession = {
  user: userRecord({ name: 'alice' }),
  session: sessionRecord({ idHash: 'f'.repeat(64), handle: 'hNdL3-handle' }),
};

describe('Gatehouse-Assertion', () => {
  let store: Store;
  let clock: ManualClock;
  let keys: SigningKeys;
  let jwks: JWTVerifyGetKey;

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    clock = new ManualClock(start);
    keys = new SigningKeys({ store: store.keys, keyring, clock, random: cryptoRandom, audit: new AuditLog({ store: store.audit, logger: silentLogger(), clock }), logger: silentLogger() });
    await keys.init();
    jwks = createLocalJWKSet({ keys: [...keys.published.keys] });
  });
  afterEach(async () => {
    await store.close();
  });

  /** What an upstream verifier must check (docs/assertions.md), at the manual clock's time. */
  const verify = (token: string, audience = 'https://api.example:8443') => jwtVerify(token, jwks, {
    algorithms: ['EdDSA'],
    typ: assertionType,
    issuer: 'https://gw.example',
    audience,
    requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'htm', 'htu'],
    currentDate: new Date(clock.now()),
  });

  const signer = (random: RandomBytes = cryptoRandom) => upstreamAssertion({ keys, issuer: 'https://gw.example', upstreamUrl: 'https://API.example:8443/base/v1/', clock, random });

  test('every claim and header field, verified with jose against the published JWKS', async () => {
    const token = await signer().sign({ method: 'POST', path: '/items/42', live });
    const { payload, protectedHeader } = await verify(token);
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: keys.active.kid, typ: 'gatehouse-assertion+jwt' });
    const iat = Math.floor(start / 1000);
    expect(payload).toEqual({
      iss: 'https://gw.example',
      aud: 'https://api.example:8443',
      sub: 'alice',
      sid: 'hNdL3-handle',
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      htm: 'POST',
      htu: 'https://api.example:8443/base/v1/items/42',
      iat,
      exp: iat + 60,
    });
    expect(typeof payload.aud).toBe('string');
  });

  test('exp is iat + 60: valid through the 60th second, refused after', async () => {
    const token = await signer().sign({ method: 'GET', path: '/x', live });
    const { iat, exp } = decodeJwt(token);
    // SPEC §7: 60 s, written out rather than read from the constant under test.
    expect(exp! - iat!).toBe(60);
    expect(assertionLifetimeSeconds).toBe(60);
    clock.set((iat! + 59) * 1000 + 999);
    await verify(token);
    clock.set(exp! * 1000);
    await expect(verify(token)).rejects.toBeInstanceOf(errors.JWTExpired);
  });

  test('sid is the session handle, never the session id or its hash', async () => {
    const token = await signer().sign({ method: 'GET', path: '/x', live });
    expect(token).not.toContain('f'.repeat(16));
    expect(JSON.stringify(decodeJwt(token))).not.toContain(live.session.idHash);
    expect(decodeJwt(token).sid).toBe(live.session.handle);
  });

  test('a public route (no session): no sub and no sid, everything else present', async () => {
    const token = await signer().sign({ method: 'GET', path: '/status', live: null });
    const { payload } = await verify(token);
    expect(payload).not.toHaveProperty('sub');
    expect(payload).not.toHaveProperty('sid');
    expect(payload).toMatchObject({ htm: 'GET', htu: 'https://api.example:8443/base/v1/status', aud: 'https://api.example:8443' });
  });

  test('htu has no query and no fragment: the path given is what the upstream gets, after its url path', async () => {
    // The proxy passes the path without its query; an upstream url without a path adds nothing.
    const bare = upstreamAssertion({ keys, issuer: 'https://gw.example', upstreamUrl: 'http://127.0.0.1:9000', clock, random: cryptoRandom });
    const { payload } = await jwtVerify(await bare.sign({ method: 'DELETE', path: '/a/b%20c/', live }), jwks, { currentDate: new Date(clock.now()) });
    expect(payload.htu).toBe('http://127.0.0.1:9000/a/b%20c/');
    expect(payload.aud).toBe('http://127.0.0.1:9000');
    expect(String(payload.htu)).not.toMatch(/[?#]/);
  });

  test('jti comes from the injected randomness and differs on every assertion', async () => {
    const fixed = signer((size) => Buffer.alloc(size, 0x01));
    const { payload } = await verify(await fixed.sign({ method: 'GET', path: '/x', live }));
    expect(payload.jti).toBe(Buffer.alloc(16, 0x01).toString('base64url'));
    const tokens = await Promise.all(Array.from({ length: 50 }, () => signer().sign({ method: 'GET', path: '/x', live })));
    expect(new Set(tokens.map((t) => decodeJwt(t).jti)).size).toBe(50);
  });

  test('refused for another upstream, another issuer, or once altered', async () => {
    const token = await signer().sign({ method: 'GET', path: '/x', live });
    await expect(verify(token, 'https://other.example')).rejects.toBeInstanceOf(errors.JWTClaimValidationFailed);
    await expect(jwtVerify(token, jwks, { issuer: 'https://evil.example', currentDate: new Date(clock.now()) })).rejects.toBeInstanceOf(errors.JWTClaimValidationFailed);
    const [head, body, signature] = token.split('.');
    const altered = Buffer.from(JSON.stringify({ ...decodeJwt(token), htm: 'DELETE' })).toString('base64url');
    await expect(verify(`${head}.${altered}.${signature}`)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
    expect(body).not.toBe(altered);
  });

  test('signAssertion uses the key it is given: its kid in the header', async () => {
    const token = await signAssertion(keys.active, { issuer: 'i', audience: 'a', subject: null, sessionHandle: null, method: 'GET', url: 'u' }, { clock, random: cryptoRandom });
    expect(decodeProtectedHeader(token).kid).toBe(keys.active.kid);
  });
});
