import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../config/schema.js';
import { RouteTable } from './route-table.js';

function route(path: string, extra: Partial<RouteConfig> = {}): RouteConfig {
  return { path, methods: ['GET'], upstream: 'up', public: false, csrf: true, mfa: false, websocket: false, ...extra };
}

function matchIndex(table: RouteTable, path: string): number | null {
  return table.match(path)?.index ?? null;
}

describe('RouteTable globs', () => {
  const table = new RouteTable([
    route('/api/weather/**'),
    route('/api/users/*'),
    route('/api/users/*/avatar'),
    route('/api/exact'),
    route('/api/slash/'),
    route('/'),
  ]);

  it.each([
    ['/api/weather', 0],
    ['/api/weather/', 0],
    ['/api/weather/v1/today', 0],
    ['/api/weather/a/b/c/d/e/f', 0],
    ['/api/weatherly', null],
    ['/api/weather.json', null],
    ['/api/users/alice', 1],
    ['/api/users/', null],
    ['/api/users', null],
    ['/api/users/alice/', null],
    ['/api/users/alice/avatar', 2],
    ['/api/users/alice/avatar/x', null],
    ['/api/exact', 3],
    ['/api/exact/', null],
    ['/api/EXACT', null],
    ['/api/slash/', 4],
    ['/api/slash', null],
    ['/', 5],
    ['/api', null],
    ['/other', null],
  ] as const)('%s → route %s', (path, expected) => {
    expect(matchIndex(table, path)).toBe(expected);
  });

  it('lets "**" alone match every path, including "/"', () => {
    const all = new RouteTable([route('/**')]);
    for (const path of ['/', '/a', '/a/', '/a/b/c']) expect(matchIndex(all, path), path).toBe(0);
  });

  it('combines "*" and "**"', () => {
    const t = new RouteTable([route('/api/*/files/**')]);
    expect(matchIndex(t, '/api/v1/files')).toBe(0);
    expect(matchIndex(t, '/api/v1/files/a/b')).toBe(0);
    expect(matchIndex(t, '/api/files')).toBe(null);
    expect(matchIndex(t, '/api/v1/other')).toBe(null);
  });

  it('compares patterns and paths in the same normal form', () => {
    const t = new RouteTable([route('/api/%7euser/**'), route('/api/caf%c3%a9')]);
    expect(matchIndex(t, '/api/~user/x')).toBe(0);
    expect(matchIndex(t, '/api/caf%C3%A9')).toBe(1);
  });
});

describe('RouteTable precedence: the first matching route in config order wins', () => {
  it('prefers an earlier wildcard over a later literal', () => {
    const t = new RouteTable([route('/api/**', { methods: ['GET'] }), route('/api/admin', { methods: ['DELETE'] })]);
    expect(matchIndex(t, '/api/admin')).toBe(0);
  });

  it('prefers an earlier literal over a later wildcard', () => {
    const t = new RouteTable([route('/api/admin', { roles: ['admin'] }), route('/api/**')]);
    expect(matchIndex(t, '/api/admin')).toBe(0);
    expect(matchIndex(t, '/api/other')).toBe(1);
    expect(matchIndex(t, '/api/admin/x')).toBe(1);
  });

  it('prefers an earlier "*" over a later literal at the same depth', () => {
    const t = new RouteTable([route('/api/*/x'), route('/api/users/x')]);
    expect(matchIndex(t, '/api/users/x')).toBe(0);
  });

  it('prefers an earlier "**" higher up over a later, deeper, more specific route', () => {
    const t = new RouteTable([route('/**'), route('/api/weather/today')]);
    expect(matchIndex(t, '/api/weather/today')).toBe(0);
  });

  it('finds a later route when the earlier one only matches a different branch', () => {
    const t = new RouteTable([route('/api/users/*/avatar'), route('/api/users/**')]);
    expect(matchIndex(t, '/api/users/bob/avatar')).toBe(0);
    expect(matchIndex(t, '/api/users/bob/profile')).toBe(1);
  });

  it('keeps the first of two identical patterns', () => {
    const t = new RouteTable([route('/api/**', { upstream: 'a' }), route('/api/**', { upstream: 'b' })]);
    expect(t.match('/api/x')?.route.config.upstream).toBe('a');
  });
});

describe('RouteTable with 1,000 routes', () => {
  const configs: RouteConfig[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 3 === 0) configs.push(route(`/api/svc${i}/**`));
    else if (i % 3 === 1) configs.push(route(`/api/svc${i}/*/items/*`));
    else configs.push(route(`/api/*/svc${i}/exact`));
  }
  configs.push(route('/api/**'));
  const table = new RouteTable(configs);

  it('matches every route to itself', () => {
    for (let i = 0; i < 1000; i++) {
      const path = i % 3 === 0 ? `/api/svc${i}/a/b` : i % 3 === 1 ? `/api/svc${i}/x/items/y` : `/api/anything/svc${i}/exact`;
      expect(matchIndex(table, path), path).toBe(i);
    }
    expect(matchIndex(table, '/api/svc1/x/items')).toBe(1000);
    expect(matchIndex(table, '/other')).toBe(null);
  });

  it('answers in time independent of the number of routes (no walk over the list)', () => {
    // A per-request walk over 1,000 globs takes seconds for 200,000 lookups; the trie takes tens
    // of milliseconds. The bound is loose enough for a slow CI machine and far below a list walk.
    const paths = ['/api/svc999/a/b/c', '/api/svc997/x/items/y', '/api/zzz/svc998/exact', '/api/nothing/here', '/nope'];
    const started = performance.now();
    let found = 0;
    for (let n = 0; n < 200_000; n++) if (table.match(paths[n % paths.length]!)) found++;
    const elapsed = performance.now() - started;
    expect(found).toBe(160_000);
    expect(elapsed).toBeLessThan(1500);
  });
});

describe('CompiledRoute', () => {
  it('allows HEAD wherever GET is allowed, and nothing else implicitly', () => {
    const t = new RouteTable([route('/a', { methods: ['GET'] }), route('/b', { methods: ['POST'] })]);
    expect([...t.routes[0]!.methods].sort()).toEqual(['GET', 'HEAD']);
    expect([...t.routes[1]!.methods]).toEqual(['POST']);
  });

  it.each([
    ['/api/weather/**', '/api/weather', '/api/weather', '/'],
    ['/api/weather/**', '/api/weather', '/api/weather/', '/'],
    ['/api/weather/**', '/api/weather', '/api/weather/v1/today', '/v1/today'],
    ['/api/weather/**', '/api/weather', '/api/weather/v1/', '/v1/'],
    ['/api/weather/**', '/api/weather/', '/api/weather/v1', '/v1'],
    ['/api/weather/**', '/api/weather/', '/api/weather', '/'],
    ['/api/weather/**', '/api', '/api/weather/v1', '/weather/v1'],
    ['/api/weather/**', '/', '/api/weather/v1', '/api/weather/v1'],
    ['/api/weather/**', undefined, '/api/weather/v1', '/api/weather/v1'],
    ['/api/weather', '/api/weather', '/api/weather', '/'],
    ['/api/*/today', '/api', '/api/oslo/today', '/oslo/today'],
    ['/api/%7euser/**', '/api/~user', '/api/~user/x', '/x'],
  ] as const)('%s with stripPrefix %s: %s → %s', (pattern, stripPrefix, path, expected) => {
    const t = new RouteTable([route(pattern, stripPrefix === undefined ? {} : { stripPrefix })]);
    const matched = t.match(path);
    expect(matched).not.toBeNull();
    expect(matched!.route.upstreamPath(path)).toBe(expected);
  });

  it.each([
    ['/api/**', '/api/weather'],
    ['/api/weather/**', '/api/weath'],
    ['/api/*/today', '/api/oslo'],
    ['/api/weather', '/api/weather/v1'],
  ])('refuses %s with stripPrefix %s', (pattern, stripPrefix) => {
    expect(() => new RouteTable([route(pattern), route(pattern, { stripPrefix })])).toThrow(/^routes\[1\]\.stripPrefix: /);
  });

  it('refuses partial-segment wildcards and "**" before the end', () => {
    expect(() => new RouteTable([route('/api/v*/x')])).toThrow(/^routes\[0\]\.path: /);
    expect(() => new RouteTable([route('/api/**/x')])).toThrow(/^routes\[0\]\.path: /);
    expect(() => new RouteTable([route('/api/%2f')])).toThrow(/^routes\[0\]\.path: /);
  });
});
