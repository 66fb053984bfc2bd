import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplayCache } from '../src/replay-cache.js';
import { fakeClock, newKey, request, sign, startJwksServer, verifierFor, type JwksServer, type TestKey } from './helpers.js';

describe('createReplayCache', () => {
  it('accepts a jti once, refuses it until it expires, then forgets it', () => {
    const clock = fakeClock();
    const cache = createReplayCache({ maxEntries: 10, now: clock.now });
    const expiresAt = clock.now() + 65_000;
    expect(cache.consume('a', expiresAt)).toBe('fresh');
    expect(cache.consume('a', expiresAt)).toBe('replayed');
    clock.advance(64_999);
    expect(cache.consume('a', expiresAt)).toBe('replayed');
    clock.advance(1);
    expect(cache.consume('a', expiresAt)).toBe('fresh');
  });

  it('never holds more than maxEntries, and refuses a new jti rather than evict a live one', () => {
    const clock = fakeClock();
    const cache = createReplayCache({ maxEntries: 3, now: clock.now });
    for (const jti of ['a', 'b', 'c']) expect(cache.consume(jti, clock.now() + 60_000)).toBe('fresh');
    expect(cache.consume('d', clock.now() + 60_000)).toBe('full');
    expect(cache.size).toBe(3);
    // Full does not mean blind: a replay of a remembered one is still a replay.
    expect(cache.consume('a', clock.now() + 60_000)).toBe('replayed');
  });

  it('drops expired entries first, wherever they are, to make room', () => {
    const clock = fakeClock();
    const cache = createReplayCache({ maxEntries: 3, now: clock.now });
    cache.consume('long', clock.now() + 120_000);
    cache.consume('short', clock.now() + 10_000);
    cache.consume('mid', clock.now() + 60_000);
    expect(cache.consume('new', clock.now() + 60_000)).toBe('full');
    clock.advance(10_000);
    expect(cache.consume('new', clock.now() + 60_000)).toBe('fresh');
    expect(cache.size).toBe(3);
    expect(cache.consume('long', clock.now() + 60_000)).toBe('replayed');
    expect(cache.consume('mid', clock.now() + 60_000)).toBe('replayed');
  });

  it('empties as entries expire', () => {
    const clock = fakeClock();
    const cache = createReplayCache({ maxEntries: 100, now: clock.now });
    for (let i = 0; i < 50; i += 1) cache.consume(`j${i}`, clock.now() + 60_000);
    clock.advance(60_000);
    cache.consume('later', clock.now() + 60_000);
    expect(cache.size).toBe(1);
  });
});

describe('the verifier\'s replay cache', () => {
  let key: TestKey;
  let jwks: JwksServer;
  beforeAll(async () => {
    key = await newKey();
    jwks = await startJwksServer([key]);
  });
  afterAll(() => jwks.close());

  it('refuses new assertions with replay_cache_full when full of live ones, and recovers as they expire', async () => {
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { replayCacheSize: 2, clockTolerance: 0 });
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
    expect(await verifier.verify(request(await sign(key, clock.now())))).toEqual({ ok: false, reason: 'replay_cache_full' });
    clock.advance(60_000);
    expect(await verifier.verify(request(await sign(key, clock.now())))).toMatchObject({ ok: true });
  });

  it('remembers a jti until its exp plus the clock tolerance, as long as it could be accepted', async () => {
    const clock = fakeClock();
    const verifier = verifierFor(jwks, clock, { clockTolerance: 5 });
    const token = await sign(key, clock.now());
    expect(await verifier.verify(request(token))).toMatchObject({ ok: true });
    clock.advance(64_000);
    expect(await verifier.verify(request(token))).toEqual({ ok: false, reason: 'replayed' });
  });
});
