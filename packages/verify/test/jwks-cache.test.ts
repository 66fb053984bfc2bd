import { afterEach, describe, expect, it } from 'vitest';
import { fakeClock, newKey, request, sign, startJwksServer, verifierFor, type JwksServer } from './helpers.js';

const servers: JwksServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serverWith(...keys: Awaited<ReturnType<typeof newKey>>[]): Promise<JwksServer> {
  const server = await startJwksServer(keys);
  servers.push(server);
  return server;
}

describe('JWKS fetching', () => {
  it('gives up on a JWKS endpoint that never answers after fetchTimeoutMs: jwks_unavailable', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    jwks.mode = 'hang';
    const clock = fakeClock();
    const started = performance.now();
    const result = await verifierFor(jwks, clock, { fetchTimeoutMs: 200 }).verify(request(await sign(key, clock.now())));
    expect(result).toEqual({ ok: false, reason: 'jwks_unavailable' });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(jwks.requests).toBe(1);
  });

  it('fetches once and serves later requests from the cache', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock);
    for (let i = 0; i < 5; i += 1) expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
    expect(jwks.requests).toBe(1);
  });

  it('shares one fetch between concurrent requests', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => sign(key, clock.now())));
    const results = await Promise.all(tokens.map((t) => verifier.verify(request(t))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(jwks.requests).toBe(1);
  });

  it('refetches on an unknown kid: a key rotated in verifies', async () => {
    const oldKey = await newKey('old');
    const newer = await newKey('new');
    const jwks = await serverWith(oldKey);
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { cooldownMs: 5_000 });
    expect(await verifier.verify(request(await sign(oldKey, clock.now())))).toMatchObject({ ok: true });

    jwks.serve([oldKey, newer]);
    clock.advance(5_000);
    expect(await verifier.verify(request(await sign(newer, clock.now())))).toMatchObject({ ok: true });
    expect(await verifier.verify(request(await sign(oldKey, clock.now())))).toMatchObject({ ok: true });
    expect(jwks.requests).toBe(2);
  });

  it('fetches at most once per cooldown, however many unknown kids arrive', async () => {
    const key = await newKey('real');
    const jwks = await serverWith(key);
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { cooldownMs: 5_000 });
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });

    for (let i = 0; i < 10; i += 1) {
      const stranger = await newKey(`made-up-${i}`);
      expect(await verifier.verify(request(await sign(stranger, clock.now())))).toEqual({ ok: false, reason: 'unknown_key' });
      clock.advance(400);
    }
    expect(jwks.requests).toBe(1);

    clock.advance(1_000);
    const stranger = await newKey('made-up-late');
    expect(await verifier.verify(request(await sign(stranger, clock.now())))).toEqual({ ok: false, reason: 'unknown_key' });
    expect(jwks.requests).toBe(2);
  });

  it('cools down after a failed fetch too, then recovers', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    jwks.mode = 'error';
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { cooldownMs: 5_000 });
    for (let i = 0; i < 5; i += 1) {
      expect(await verifier.verify(request(await sign(key, clock.now())))).toEqual({ ok: false, reason: 'jwks_unavailable' });
    }
    expect(jwks.requests).toBe(1);

    jwks.mode = 'ok';
    clock.advance(5_000);
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
    expect(jwks.requests).toBe(2);
  });

  it('a key withdrawn from the JWKS stops verifying once the cached set is older than maxJwksAgeMs', async () => {
    const retired = await newKey('retired');
    const current = await newKey('current');
    const jwks = await serverWith(retired, current);
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { maxJwksAgeMs: 60_000 });
    expect(await verifier.verify(request(await sign(retired, clock.now())))).toMatchObject({ ok: true });

    jwks.serve([current]);
    clock.advance(30_000);
    expect(await verifier.verify(request(await sign(retired, clock.now())))).toMatchObject({ ok: true });
    clock.advance(30_000);
    expect(await verifier.verify(request(await sign(retired, clock.now())))).toEqual({ ok: false, reason: 'unknown_key' });
    expect(await verifier.verify(request(await sign(current, clock.now())))).toMatchObject({ ok: true });
  });

  it('does not use a stale set when the refresh fails (fail closed)', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { maxJwksAgeMs: 60_000 });
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
    jwks.mode = 'error';
    clock.advance(60_000);
    expect(await verifier.verify(request(await sign(key, clock.now())))).toEqual({ ok: false, reason: 'jwks_unavailable' });
  });

  it('does not follow a redirect', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    jwks.mode = 'redirect';
    const clock = fakeClock();
    expect(await verifierFor(jwks, clock).verify(request(await sign(key, clock.now())))).toEqual({ ok: false, reason: 'jwks_unavailable' });
    expect(jwks.requests).toBe(1);
  });

  it('refuses a JWKS over 64 KiB', async () => {
    const key = await newKey();
    const jwks = await serverWith(key);
    jwks.mode = 'huge';
    const clock = fakeClock();
    expect(await verifierFor(jwks, clock).verify(request(await sign(key, clock.now())))).toEqual({ ok: false, reason: 'jwks_unavailable' });
  });

  it('uses an injected fetch', async () => {
    const key = await newKey();
    const clock = fakeClock();
    const calls: string[] = [];
    const verifier = verifierFor({ jwksUrl: 'https://gatehouse.example/.well-known/jwks.json' } as JwksServer, clock, {
      fetch: async (input) => {
        calls.push(input);
        return new Response(JSON.stringify({ keys: [key.jwk] }), { status: 200 });
      },
    });
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
    expect(calls).toEqual(['https://gatehouse.example/.well-known/jwks.json']);
  });
});
