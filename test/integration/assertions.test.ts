import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { createVerifier } from '@gatehouse/verify';
import { beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { signingKeyAad } from '../../src/trust/signing-key-store.js';
import { runRaw } from '../cli/harness.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * SPEC §7 end to end: a real gateway in front of a real upstream that records the
 * Gatehouse-Assertion header, verified the way an upstream would, with jose against the gateway's
 * own /.well-known/jwks.json.
 */

const publicOrigin = 'http://localhost:8080';
let alice: string;
let jwks: JWTVerifyGetKey;

const env = useGateway((upstream) => ({
  config: {
    upstreams: [
      { name: 'api', url: `${upstream.url}/base/`, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s', assertion: true },
      { name: 'plain', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' },
    ],
    routes: [
      { path: '/api/public/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api/public', public: true },
      { path: '/api/plain/**', methods: ['GET'], upstream: 'plain', stripPrefix: '/api/plain' },
      { path: '/api/**', methods: ['GET', 'POST'], upstream: 'api', stripPrefix: '/api' },
    ],
  },
}));
beforeAll(async () => {
  alice = await login(env.gw.url);
  // No cooldown between refetches: this test rotates and expects the new kid to be fetched at once
  // (jose's default waits 30 s; see docs/assertions.md on what a verifier should do).
  jwks = createRemoteJWKSet(new URL(`${env.gw.url}/.well-known/jwks.json`), { cooldownDuration: 0 });
});

/** The checks docs/assertions.md asks of an env.upstream, at the gateway's (manual) time. */
function verify(token: string) {
  return jwtVerify(token, jwks, {
    algorithms: ['EdDSA'],
    typ: 'gatehouse-assertion+jwt',
    issuer: publicOrigin,
    audience: env.upstream.url,
    requiredClaims: ['iat', 'exp', 'jti', 'htm', 'htu'],
    currentDate: new Date(env.gw.clock.now()),
  });
}

function assertionSeen(index = 0): string {
  const header = env.upstream.seen[index]!.headers['gatehouse-assertion'];
  expect(typeof header).toBe('string');
  return header as string;
}

describe('the Gatehouse-Assertion header', () => {
  it('carries every claim for a session route, and verifies against the published JWKS', async () => {
    const reply = await call(env.gw.url, '/api/v1/items?q=a%20b#frag', { method: 'POST', session: alice, body: { x: 1 } });
    expect(reply.status).toBe(200);
    const seen = env.upstream.seen[0]!;
    expect(seen.url).toBe('/base/v1/items?q=a%20b');
    const { payload, protectedHeader } = await verify(assertionSeen());
    const [session] = await env.gw.gateway.services.sessions.list({ userName: 'alice' });
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: env.gw.gateway.services.signingKeys.active.kid, typ: 'gatehouse-assertion+jwt' });
    expect(payload).toEqual({
      iss: publicOrigin,
      aud: env.upstream.url,
      sub: 'alice',
      sid: session!.handle,
      jti: expect.any(String),
      htm: 'POST',
      // The URL the upstream received, without the query.
      htu: `${env.upstream.url}/base/v1/items`,
      iat: Math.floor(env.gw.clock.now() / 1000),
      exp: Math.floor(env.gw.clock.now() / 1000) + 60,
    });
    expect(payload.sid).not.toBe(alice);
  });

  it('on a public route has no sub and no sid, even when a session cookie is sent', async () => {
    expect((await call(env.gw.url, '/api/public/status?x=1', { session: alice })).status).toBe(200);
    const { payload } = await verify(assertionSeen());
    expect(payload).not.toHaveProperty('sub');
    expect(payload).not.toHaveProperty('sid');
    expect(payload).toMatchObject({ htm: 'GET', htu: `${env.upstream.url}/base/status`, aud: env.upstream.url });
  });

  it('has a fresh jti on every request', async () => {
    for (let i = 0; i < 5; i += 1) await call(env.gw.url, '/api/same', { session: alice });
    const jtis = env.upstream.seen.map((_, i) => decodeJwt(assertionSeen(i)).jti);
    expect(new Set(jtis).size).toBe(5);
  });

  it('replaces one a client sends; an upstream without assertion: true gets none at all', async () => {
    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.';
    await call(env.gw.url, '/api/x', { session: alice, headers: { 'gatehouse-assertion': forged } });
    expect(env.upstream.seen[0]!.rawHeaders.filter((h) => h.toLowerCase() === 'gatehouse-assertion')).toHaveLength(1);
    expect(assertionSeen()).not.toBe(forged);
    await verify(assertionSeen());

    await call(env.gw.url, '/api/plain/x', { session: alice, headers: { 'gatehouse-assertion': forged } });
    expect(env.upstream.seen[1]!.url).toBe('/x');
    expect(env.upstream.seen[1]!.headers['gatehouse-assertion']).toBeUndefined();
  });

  it('cannot be replayed for another method or URL: the verifier sees htm/htu differ', async () => {
    await call(env.gw.url, '/api/read-only', { session: alice });
    const { payload } = await verify(assertionSeen());
    expect([payload.htm, payload.htu]).toEqual(['GET', `${env.upstream.url}/base/read-only`]);
    // An upstream compares these with the request it received (docs/assertions.md); a replay at
    // DELETE /base/admin would not match. Expiry: refused once 60 s have passed.
    await expect(jwtVerify(assertionSeen(), jwks, { currentDate: new Date(env.gw.clock.now() + 61_000) })).rejects.toBeInstanceOf(errors.JWTExpired);
  });
});

describe('a retried request (SPEC §4.4: once, idempotent, no response byte yet)', () => {
  it('carries a freshly signed assertion, which an upstream with a replay cache accepts', async () => {
    // The upstream as docs/assertions.md has it: @gatehouse/verify with its replay cache, at the
    // gateway's time. It checks every attempt it receives, then drops the connection of the first
    // before answering: the gateway cannot know it was already received, and retries.
    const verifier = createVerifier({ jwksUrl: `${env.gw.url}/.well-known/jwks.json`, issuer: publicOrigin, audience: env.upstream.url, now: () => env.gw.clock.now() });
    const verdicts: string[] = [];
    env.upstream.handle((req, res) => {
      void verifier.verify({ method: req.method ?? '', url: req.url ?? '', headers: req.headers }).then((result) => {
        verdicts.push(result.ok ? 'ok' : result.reason);
        if (verdicts.length === 1) {
          req.socket.destroy();
          return;
        }
        res.writeHead(result.ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify({ verdict: verdicts.at(-1) }));
      });
    });

    const reply = await call(env.gw.url, '/api/retried', { session: alice });
    expect(env.upstream.seen).toHaveLength(2);
    expect(verdicts).toEqual(['ok', 'ok']);
    expect(reply.status).toBe(200);

    const [first, second] = [0, 1].map((i) => assertionSeen(i));
    const [a, b] = await Promise.all([verify(first!), verify(second!)]);
    expect(a.payload.jti).not.toBe(b.payload.jti);
    expect(b.payload).toMatchObject({ htm: 'GET', htu: `${env.upstream.url}/base/retried`, sub: 'alice', sid: a.payload.sid });

    // The replay cache still does its job: the first attempt, captured and sent again, is refused.
    const replay = await verifier.verify({ method: 'GET', url: env.upstream.seen[0]!.url, headers: env.upstream.seen[0]!.headers });
    expect(replay).toEqual({ ok: false, reason: 'replayed' });
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('is public, publishes the active Ed25519 key, and is revalidated rather than cached', async () => {
    const reply = await call(env.gw.url, '/.well-known/jwks.json', { csrf: false });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/jwk-set+json');
    expect(reply.headers['cache-control']).toBe('no-cache');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(reply.json()).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: env.gw.gateway.services.signingKeys.active.kid, alg: 'EdDSA', use: 'sig' }] });
    expect(reply.text).not.toContain('"d"');
  });

  it('answers 304 to a matching If-None-Match, HEAD without a body, and 405 to other methods', async () => {
    const first = await call(env.gw.url, '/.well-known/jwks.json', { csrf: false });
    const etag = first.headers.etag as string;
    const again = await call(env.gw.url, '/.well-known/jwks.json', { csrf: false, headers: { 'if-none-match': `W/"other", ${etag}` } });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    const head = await call(env.gw.url, '/.well-known/jwks.json', { method: 'HEAD', csrf: false });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(first.text)));
    expect((await call(env.gw.url, '/.well-known/jwks.json', { method: 'POST', session: alice })).status).toBe(405);
  });
});

describe('the signing key at rest', () => {
  it('is sealed under the master key: no private key bytes in the database files', async () => {
    const files = readdirSync(env.gw.dir).filter((name) => name.startsWith('gatehouse.db'));
    const bytes = Buffer.concat(files.map((name) => readFileSync(join(env.gw.dir, name))));
    const stored = await env.gw.gateway.services.store.keys.list();
    expect(stored.length).toBeGreaterThan(0);
    for (const record of stored) {
      const { d } = JSON.parse(open(env.gw.gateway.services.keyring, signingKeyAad(record.kid), record.sealedPrivateKey).toString('utf8')) as { d: string };
      const raw = Buffer.from(d, 'base64url');
      expect(raw).toHaveLength(32);
      for (const form of [Buffer.from(d), raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('base64'))]) {
        expect(bytes.includes(form)).toBe(false);
      }
    }
  });
});

describe('gatehouse keys rotate against the running gateway', () => {
  it('the new kid is used within 5 s; the old one stays published for the grace period, then is gone', async () => {
    const old = env.gw.gateway.services.signingKeys.active.kid;
    await call(env.gw.url, '/api/before', { session: alice });
    const signedBefore = assertionSeen();
    expect(decodeProtectedHeader(signedBefore).kid).toBe(old);

    // The CLI, in-process, on the same configuration and store (another connection).
    const rotated = await runRaw(['keys', 'rotate', '--config', join(env.gw.dir, 'gatehouse.yaml')]);
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    const kid = /^new signing key (\S+);/.exec(rotated.stdout)?.[1];
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.stdout).toContain(`previous key ${old} stays published until `);

    // Real time, the default refresh interval: nothing but the gateway's own timer picks it up.
    const rotatedAt = Date.now();
    await expect.poll(async () => {
      env.upstream.seen.length = 0;
      await call(env.gw.url, '/api/after', { session: alice });
      return decodeProtectedHeader(assertionSeen()).kid;
    }, { timeout: 6_000, interval: 200 }).toBe(kid);
    expect(Date.now() - rotatedAt).toBeLessThan(6_000);

    // The new assertion verifies (the verifier refetches on the unknown kid), and so does one
    // signed with the old key just before the rotation.
    await verify(assertionSeen());
    await verify(signedBefore);
    const published = (await call(env.gw.url, '/.well-known/jwks.json', { csrf: false })).json() as { keys: { kid: string }[] };
    expect(published.keys.map((k) => k.kid)).toEqual([kid, old]);

    const [event] = await env.gw.gateway.services.store.audit.recent(1);
    expect(event).toMatchObject({ type: 'signing_key_rotated', detail: { kid, retired: old, by: 'cli' } });

    // Past the 24 h grace period the old key is gone from the set and from the store.
    env.gw.clock.advance(24 * 3_600_000 + 60_000);
    await env.gw.gateway.services.signingKeys.refresh();
    const after = (await call(env.gw.url, '/.well-known/jwks.json', { csrf: false })).json() as { keys: { kid: string }[] };
    expect(after.keys.map((k) => k.kid)).toEqual([kid]);
    expect((await env.gw.gateway.services.store.keys.list()).map((k) => k.kid)).toEqual([kid]);
    const fresh = createRemoteJWKSet(new URL(`${env.gw.url}/.well-known/jwks.json`));
    await expect(jwtVerify(signedBefore, fresh, { currentDate: new Date(decodeJwt(signedBefore).iat! * 1000) })).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  });
});
