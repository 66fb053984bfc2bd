import { describe, expect, it } from 'vitest';
import { normalisePath, type PathRejection } from './normalise-path.js';

type Row = [target: string, expected: { path: string; query?: string } | PathRejection];

/** Hostile and awkward request targets, each with what Gatehouse must make of it. */
const table: Row[] = [
  // plain targets (fast path)
  ['/', { path: '/' }],
  ['/api/weather/today', { path: '/api/weather/today' }],
  ['/api/weather/', { path: '/api/weather/' }],
  ['/api/weather?city=Oslo&units=metric', { path: '/api/weather', query: 'city=Oslo&units=metric' }],
  ['/api/weather?', { path: '/api/weather', query: '' }],
  ['/api/a.b/c..d/...', { path: '/api/a.b/c..d/...' }],
  // dot segments, literal
  ['/api/../admin', { path: '/admin' }],
  ['/api/weather/..', { path: '/api/' }],
  ['/api/weather/.', { path: '/api/weather/' }],
  ['/./api/./x', { path: '/api/x' }],
  ['/api/weather/../../admin', { path: '/admin' }],
  ['/..', 'above-root'],
  ['/../admin', 'above-root'],
  ['/a/../../b', 'above-root'],
  ['/api/../../etc/passwd', 'above-root'],
  // dot segments, percent-encoded in every case mix
  ['/api/%2e%2e/admin', 'encoded-dot-segment'],
  ['/api/%2E%2e/', 'encoded-dot-segment'],
  ['/api/.%2e/', 'encoded-dot-segment'],
  ['/api/%2e./x', 'encoded-dot-segment'],
  ['/%2e%2e/admin', 'encoded-dot-segment'],
  ['/api/%2e%2e/%2e%2e/admin', 'encoded-dot-segment'],
  ['/api/%2e/x', 'encoded-dot-segment'],
  ['/api/%2e%2ex/y', { path: '/api/..x/y' }],
  ['/api/x%2e%2e/y', { path: '/api/x../y' }],
  // double encoding, aimed at upstreams that decode twice
  ['/api/%252e%252e/admin', 'double-encoded'],
  ['/api/%252E%252E/admin', 'double-encoded'],
  ['/api/%252f..', 'double-encoded'],
  ['/api/%255c..', 'double-encoded'],
  ['/api/%2500', 'double-encoded'],
  ['/api/%25252e', 'double-encoded'],
  ['/api/%25%32%65%25%32%65/admin', 'double-encoded'],
  ['/api/%25c0%25ae', 'double-encoded'],
  ['/api/100%25', { path: '/api/100%25' }],
  ['/api/%25zz', { path: '/api/%25zz' }],
  // encoded separators and backslashes
  ['/api/..%2f', 'encoded-separator'],
  ['/api/..%2Fadmin', 'encoded-separator'],
  ['/api/%2f..', 'encoded-separator'],
  ['/api/%5c..', 'encoded-separator'],
  ['/api/..\\admin', 'bad-character'],
  ['/api\\..\\admin', 'bad-character'],
  // NUL and other controls, literal and encoded
  ['/api/%00', 'control-character'],
  ['/api/weather%00.json', 'control-character'],
  ['/api/x%0d%0aSet-Cookie:%20a=b', 'control-character'],
  ['/api/x%09', 'control-character'],
  ['/api/x%7f', 'control-character'],
  ['/api/\u0000', 'control-character'],
  ['/api/x\ty', 'control-character'],
  ['/api/a b', 'bad-character'],
  ['/api?a=\u0001', 'control-character'],
  ['/api/caf\u00e9', 'bad-character'],
  // invalid escapes
  ['/api/%zz', 'bad-escape'],
  ['/api/%4', 'bad-escape'],
  ['/api/%', 'bad-escape'],
  ['/api/%g0', 'bad-escape'],
  // overlong and otherwise invalid UTF-8
  ['/api/%c0%ae%c0%ae/admin', 'invalid-utf8'],
  ['/api/%c0%af', 'invalid-utf8'],
  ['/api/%e0%80%ae', 'invalid-utf8'],
  ['/api/%f0%80%80%ae', 'invalid-utf8'],
  ['/api/%ed%a0%80', 'invalid-utf8'],
  ['/api/%f4%90%80%80', 'invalid-utf8'],
  ['/api/%ff', 'invalid-utf8'],
  ['/api/%80', 'invalid-utf8'],
  ['/api/%c3', 'invalid-utf8'],
  ['/api/%c3x', 'invalid-utf8'],
  ['/api/%c3%a9', { path: '/api/%C3%A9' }],
  ['/api/%e2%82%ac', { path: '/api/%E2%82%AC' }],
  ['/api/%f0%9f%98%80', { path: '/api/%F0%9F%98%80' }],
  // duplicate slashes
  ['//api//weather///today', { path: '/api/weather/today' }],
  ['//evil.example/x', { path: '/evil.example/x' }],
  ['/api/weather//', { path: '/api/weather/' }],
  ['/api//../admin', { path: '/admin' }],
  // unreserved decoding and escape case normalisation
  ['/api/%7euser', { path: '/api/~user' }],
  ['/api/%41%42%43', { path: '/api/ABC' }],
  ['/api/a%2db_c', { path: '/api/a-b_c' }],
  ['/api/%3f%23%20', { path: '/api/%3F%23%20' }],
  ['/api/a+b%2Bc', { path: '/api/a+b%2Bc' }],
  // matrix parameters
  ['/api;/x', { path: '/api;/x' }],
  ['/api/weather;v=1/today', { path: '/api/weather;v=1/today' }],
  ['/api/..;/admin', 'dot-segment-parameter'],
  ['/api/.;/admin', 'dot-segment-parameter'],
  ['/api/%2e%2e;/admin', 'encoded-dot-segment'],
  ['/api/..%3Badmin', 'dot-segment-parameter'],
  ['/api/..%3b/admin', 'dot-segment-parameter'],
  // queries are never decoded or normalised, and fragments are dropped
  ['/api/weather?path=../../admin', { path: '/api/weather', query: 'path=../../admin' }],
  ['/api/weather?next=%2e%2e%2fadmin&x=%00', { path: '/api/weather', query: 'next=%2e%2e%2fadmin&x=%00' }],
  ['/api/weather?a=1?b=2', { path: '/api/weather', query: 'a=1?b=2' }],
  ['/api/./weather?q=//x/./y', { path: '/api/weather', query: 'q=//x/./y' }],
  ['/api/weather#frag', { path: '/api/weather' }],
  ['/api/weather?a=1#frag?b=2', { path: '/api/weather', query: 'a=1' }],
  ['/api/weather#x?notquery', { path: '/api/weather' }],
  ['/api/weather?a=b c', 'bad-character'],
  // not origin-form
  ['http://example.com/api', 'not-origin-form'],
  ['*', 'not-origin-form'],
  ['example.com:443', 'not-origin-form'],
  ['', 'not-origin-form'],
  ['api/weather', 'not-origin-form'],
  ['\\api', 'not-origin-form'],
];

describe('normalisePath', () => {
  it('has a table long enough to mean something', () => {
    expect(table.length).toBeGreaterThanOrEqual(40);
  });

  it.each(table)('%j', (target, expected) => {
    const result = normalisePath(target);
    if (typeof expected === 'string') {
      expect(result).toEqual({ ok: false, reason: expected });
    } else {
      expect(result).toEqual({ ok: true, path: expected.path, query: expected.query ?? '' });
    }
  });

  it('is idempotent: a normalised path normalises to itself', () => {
    for (const [target, expected] of table) {
      if (typeof expected === 'string') continue;
      expect(normalisePath(expected.path), target).toEqual({ ok: true, path: expected.path, query: '' });
    }
  });

  it('never returns a path with a dot segment, "//", an encoded separator or a double-encoded dot', () => {
    const pieces = ['/', '.', '..', '%2e', '%2E', '%2f', '%25', '2e', 'a', ';', '%3b', '%5c', '~', '%7E', '%c0', '%ae'];
    let state = 12345;
    const next = (): number => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state;
    };
    let accepted = 0;
    for (let n = 0; n < 10_000; n++) {
      let target = '/';
      const length = 1 + (next() % 10);
      for (let k = 0; k < length; k++) target += pieces[next() % pieces.length];
      const result = normalisePath(target);
      if (!result.ok) continue;
      accepted++;
      const segments = result.path.split('/').slice(1);
      expect(segments.includes('.') || segments.includes('..'), target).toBe(false);
      expect(result.path.includes('//'), target).toBe(false);
      expect(/%2F|%5C|%00|%252E|%252F/i.test(result.path), target).toBe(false);
      expect(normalisePath(result.path), target).toEqual({ ok: true, path: result.path, query: '' });
    }
    expect(accepted).toBeGreaterThan(1_000);
  });
});
