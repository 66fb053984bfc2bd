import { describe, expect, it } from 'vitest';
import { LeakGuard, headersLeak } from './leak-guard.js';

const secret = Buffer.from('sk_live_0123456789abcdefABCDEF_Z'); // 32 bytes

/** A deterministic generator, so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

function randomBytes(next: () => number, length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789_ABCDEF'): Buffer {
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[next() % alphabet.length];
  return Buffer.from(text);
}

/** Runs `stream` through a guard in chunks cut at `cuts`; returns what was released and whether a leak was seen. */
function runWith(options: { prefixesOnly?: boolean }, patterns: Buffer[], stream: Buffer, cuts: readonly number[]): { released: Buffer; leaked: boolean; leakedAt: number } {
  const guard = new LeakGuard(patterns, options);
  const released: Buffer[] = [];
  let leaked = false;
  let leakedAt = -1;
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    const result = guard.push(stream.subarray(from, cut));
    released.push(result.safe);
    if (result.leaked && !leaked) {
      leaked = true;
      leakedAt = cut;
    }
    from = cut;
  }
  const last = guard.end();
  released.push(last.safe);
  leaked ||= last.leaked;
  return { released: Buffer.concat(released), leaked, leakedAt };
}

/**
 * The no-fragment property: when the stream holds a secret starting at `start`, nothing from
 * `start` on was ever released — not even its first byte.
 */
function expectNoFragment(result: { released: Buffer; leaked: boolean }, stream: Buffer, start: number): void {
  expect(result.leaked).toBe(true);
  expect(result.released.length).toBeLessThanOrEqual(start);
  expect(result.released.equals(stream.subarray(0, result.released.length))).toBe(true);
}

describe.each([
  { name: 'holding back the longest pattern − 1', options: {} },
  { name: 'holding back only a possible pattern prefix (event streams)', options: { prefixesOnly: true } },
])('LeakGuard, $name', ({ options }) => {
  const run = (patterns: Buffer[], stream: Buffer, cuts: readonly number[]): ReturnType<typeof runWith> => runWith(options, patterns, stream, cuts);
  const next = prng(1);
  const before = randomBytes(next, 100);
  const after = randomBytes(next, 100);
  const stream = Buffer.concat([before, secret, after]);
  const start = before.length;

  it('finds a secret split across 2 chunks at every position, releasing no fragment of it', () => {
    for (let cut = 1; cut < stream.length; cut++) expectNoFragment(run([secret], stream, [cut]), stream, start);
  });

  it('finds a secret split across 3 chunks at every pair of positions within it', () => {
    for (let a = start; a <= start + secret.length; a++) {
      for (let b = a + 1; b <= start + secret.length; b++) expectNoFragment(run([secret], stream, [a, b]), stream, start);
    }
  });

  it('finds a secret delivered in 1-byte chunks, and in every chunk size up to 40', () => {
    for (let size = 1; size <= 40; size++) {
      const cuts: number[] = [];
      for (let at = size; at < stream.length; at += size) cuts.push(at);
      const result = run([secret], stream, cuts);
      expectNoFragment(result, stream, start);
      // Found exactly when its last byte arrived.
      expect(result.leakedAt).toBe(Math.min(stream.length, Math.ceil((start + secret.length) / size) * size));
    }
  });

  it('finds a secret at the very start and at the very end of the body', () => {
    const atStart = Buffer.concat([secret, after]);
    const atEnd = Buffer.concat([before, secret]);
    for (const cut of [1, 16, 31, 32, 33]) {
      expectNoFragment(run([secret], atStart, [cut]), atStart, 0);
      expectNoFragment(run([secret], atEnd, [cut]), atEnd, before.length);
      expectNoFragment(run([secret], secret, cut < secret.length ? [cut] : []), secret, 0);
    }
  });

  it('releases nothing more after a leak, and a body that ends on a secret prefix is released whole', () => {
    const guard = new LeakGuard([secret], options);
    expect(guard.push(Buffer.concat([before, secret])).leaked).toBe(true);
    expect(guard.push(after)).toEqual({ safe: Buffer.alloc(0), leaked: true });
    expect(guard.end().leaked).toBe(true);
    expect(guard.leaked).toBe(true);

    const almost = Buffer.concat([before, secret.subarray(0, 31)]);
    const result = run([secret], almost, [before.length + 10]);
    expect(result.leaked).toBe(false);
    expect(result.released.equals(almost)).toBe(true);
  });

  it('passes clean streams through byte for byte, whatever the chunking (no false positives)', () => {
    const rng = prng(7);
    for (let trial = 0; trial < 200; trial++) {
      // Digits only: the secret contains letters, so it cannot occur by chance.
      const body = randomBytes(rng, rng() % 2000, '0123456789');
      const cuts: number[] = [];
      for (let at = rng() % 50; at < body.length; at += 1 + (rng() % 200)) if (at > 0) cuts.push(at);
      const result = run([secret], body, cuts);
      expect(result.leaked).toBe(false);
      expect(result.released.equals(body)).toBe(true);
    }
  });

  it('watches many patterns of different lengths at once', () => {
    const rng = prng(3);
    const patterns = Array.from({ length: 50 }, (_, i) => Buffer.from(`SECRET${i}-${randomBytes(rng, 2 + (i % 40)).toString()}`));
    const filler = randomBytes(rng, 5000, 'xyz ');
    const clean = run(patterns, filler, [1000, 1001, 3000]);
    expect(clean.leaked).toBe(false);
    expect(clean.released.equals(filler)).toBe(true);
    for (const [i, pattern] of patterns.entries()) {
      const body = Buffer.concat([filler.subarray(0, 700 + i), pattern, filler.subarray(0, 300)]);
      for (const cut of [700 + i + 1, 700 + i + pattern.length - 1]) expectNoFragment(run(patterns, body, [cut]), body, 700 + i);
    }
  });

  it('passes everything straight through when there is nothing to guard', () => {
    const guard = new LeakGuard([]);
    const chunk = Buffer.from('hello');
    expect(guard.push(chunk).safe).toBe(chunk);
    expect(guard.end().safe.length).toBe(0);
  });

  it('refuses an empty pattern and a push after end', () => {
    expect(() => new LeakGuard([Buffer.alloc(0)])).toThrow(/empty pattern/);
    const guard = new LeakGuard([secret]);
    guard.end();
    expect(() => guard.push(Buffer.from('x'))).toThrow(/after end/);
  });
});

describe('LeakGuard for event streams (prefixesOnly)', () => {
  const event = (data: string): Buffer => Buffer.from(`data: ${data}\n\n`);

  it('releases a complete event at once, however long the patterns', () => {
    const long = Buffer.from(`${'L'.repeat(2000)}-user-token`);
    const guard = new LeakGuard([secret, long], { prefixesOnly: true });
    for (const data of ['hello', '', 'sk_live_', 'x'.repeat(5000)]) expect(guard.push(event(data)).safe.equals(event(data))).toBe(true);
  });

  it('holds back exactly the tail that could begin a pattern, and releases it once it cannot', () => {
    const guard = new LeakGuard([secret], { prefixesOnly: true });
    expect(guard.push(Buffer.from('data: a sk_live_01')).safe.toString()).toBe('data: a ');
    expect(guard.push(Buffer.from('2')).safe.toString()).toBe('');
    expect(guard.push(Buffer.from('x\n\n')).safe.toString()).toBe('sk_live_012x\n\n');
    // A later start inside the held tail is found too: "sk_sk_live…" begins the secret at its 4th byte.
    expect(guard.push(Buffer.from('data: sk_')).safe.toString()).toBe('data: ');
    expect(guard.push(Buffer.from('sk_li')).safe.toString()).toBe('sk_');
    expect(guard.push(secret.subarray(5)).leaked).toBe(true);
  });

  it('never releases a fragment of a secret split across events and chunks at random (fuzz)', () => {
    const rng = prng(11);
    const patterns = [secret, Buffer.from('ZZ-second-pattern-ZZ')];
    for (let trial = 0; trial < 300; trial++) {
      const parts: Buffer[] = [];
      for (let events = rng() % 6; events > 0; events--) {
        // Prefixes of the patterns, which must not be mistaken for them.
        const decoy = patterns[rng() % 2]!.subarray(0, 1 + (rng() % 15));
        parts.push(event(`${randomBytes(rng, rng() % 60).toString()}${decoy.toString()}`));
      }
      const start = parts.reduce((sum, part) => sum + part.length, 0) + 'data: '.length;
      const pattern = patterns[rng() % 2]!;
      parts.push(Buffer.concat([Buffer.from('data: '), pattern, Buffer.from('\n\n')]), event('after'));
      const stream = Buffer.concat(parts);
      const cuts: number[] = [];
      for (let at = 1 + (rng() % 30); at < stream.length; at += 1 + (rng() % 30)) cuts.push(at);
      expectNoFragment(runWith({ prefixesOnly: true }, patterns, stream, cuts), stream, start);
      const clean = Buffer.concat(parts.slice(0, -2));
      const result = runWith({ prefixesOnly: true }, patterns, clean, cuts.filter((cut) => cut < clean.length));
      expect(result.leaked).toBe(false);
      expect(result.released.equals(clean)).toBe(true);
    }
  });
});

describe('headersLeak', () => {
  const patterns = [secret, Buffer.from('pässwörd-ünïcode')];

  it('finds a secret in a value, in an array value, or in a name', () => {
    expect(headersLeak({ 'x-debug': `token=${secret.toString()};` }, patterns)).toBe(true);
    expect(headersLeak({ link: ['<a>', `<b?k=${secret.toString()}>`] }, patterns)).toBe(true);
    expect(headersLeak({ [`x-${secret.toString().toLowerCase()}`]: '1' }, patterns)).toBe(true);
  });

  it('finds a non-ASCII secret whether the value was decoded as UTF-8 or as latin-1', () => {
    const bytes = Buffer.from('pässwörd-ünïcode');
    expect(headersLeak({ 'x-a': 'pässwörd-ünïcode' }, patterns)).toBe(true);
    expect(headersLeak({ 'x-a': bytes.toString('latin1') }, patterns)).toBe(true);
  });

  it('does not flag clean headers, numbers or undefined values', () => {
    expect(headersLeak({ 'content-type': 'text/plain', 'content-length': 12 as unknown as string, 'x-u': undefined, 'x-part': secret.subarray(0, 31).toString() }, patterns)).toBe(false);
    expect(headersLeak({ a: 'b' }, [])).toBe(false);
  });
});
