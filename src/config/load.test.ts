import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './load.js';
import { problemsOf } from '../../test/helpers/config-problems.js';

const upstream = { name: 'api', url: 'http://127.0.0.1:9000', credential: { type: 'bearer', secret: 'tok' } };

describe('parseConfig', () => {
  it('fills in the SPEC defaults and resolves relative paths against the config folder', () => {
    const config = parseConfig({}, '/etc/gatehouse');
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, publicOrigin: 'http://localhost:8080', maxBodySize: 1024 * 1024, workers: 1 });
    expect(config.store).toEqual({ sqlite: '/etc/gatehouse/data/gatehouse.db' });
    expect(config.masterKey).toEqual(['file:/etc/gatehouse/data/master.key']);
    expect(config.session).toEqual({ idleTimeout: 30 * 60_000, absoluteTimeout: 12 * 3_600_000, sameSite: 'strict' });
    expect(config.login).toEqual({ maxFailures: 5, backoff: 1000, maxBackoff: 15 * 60_000, perIp: { max: 20, per: 5 * 60_000 } });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses durations and sizes', () => {
    const config = parseConfig({ session: { idleTimeout: '500ms', absoluteTimeout: '7d' }, server: { maxBodySize: '64kb' } }, '/x');
    expect(config.session.idleTimeout).toBe(500);
    expect(config.session.absoluteTimeout).toBe(7 * 86_400_000);
    expect(config.server.maxBodySize).toBe(65536);
  });

  it('names the key path of every problem, all at once', () => {
    expect(problemsOf({
      session: { idleTimeout: 'soon', colour: 'blue' },
      server: { maxBodySize: 'huge', publicOrigin: 'http://x.example/path' },
      upstreams: [upstream],
      routes: [{ path: '/api/**', upstream: 'apj' }, { path: '/b/**', upstream: 'api', extra: 1 }],
    })).toEqual([
      'server.publicOrigin: expected an origin like "https://app.example.com" (scheme, host and optional port, no path)',
      'server.maxBodySize: expected a size like "1mb"',
      'session.idleTimeout: expected a duration like "30m"',
      'session.colour: unknown key',
      'routes[1].extra: unknown key',
      'routes[0].upstream: no upstream is named "apj"',
    ]);
  });

  it('takes server.allowedHosts in canonical form and refuses entries that are not a host, by key path', () => {
    expect(parseConfig({}, '/x').server.allowedHosts).toEqual([]);
    expect(parseConfig({ server: { allowedHosts: ['Gatehouse.Internal', '127.0.0.1:8080', '[0::1]'] } }, '/x').server.allowedHosts)
      .toEqual(['gatehouse.internal', '127.0.0.1:8080', '[::1]']);
    const expected = 'expected a host like "app.example.com" or "app.example.com:8443" (a name or IP address and an optional port; no scheme, path or wildcard)';
    expect(problemsOf({ server: { allowedHosts: ['ok.example', 'https://app.example.com', '*.example.com', 'x:0', 42] } })).toEqual([
      `server.allowedHosts[1]: ${expected}`,
      `server.allowedHosts[2]: ${expected}`,
      `server.allowedHosts[3]: ${expected}`,
      'server.allowedHosts[4]: expected a host like "app.example.com" or "app.example.com:8443"',
    ]);
    expect(problemsOf({ server: { allowedHosts: 'app.example.com' } })).toEqual(['server.allowedHosts: expected a list of hosts like [app.example.com, "internal.example:8080"]']);
  });

  it('accepts assertion: true on an upstream (SPEC §7), and the route to the JWKS stays reserved', () => {
    expect(problemsOf({ upstreams: [{ ...upstream, assertion: true }], routes: [{ path: '/api/**', upstream: 'api' }] })).toEqual([]);
    expect(parseConfig({ upstreams: [{ ...upstream, assertion: true }] }, '/x').upstreams[0]!.assertion).toBe(true);
    expect(problemsOf({ upstreams: [upstream], routes: [{ path: '/.well-known/jwks.json', upstream: 'api' }] })).toEqual([
      'routes[0].path: this path is reserved for Gatehouse itself',
    ]);
  });

  it('checks combinations that one key cannot show', () => {
    expect(problemsOf({
      upstreams: [upstream, upstream],
      routes: [
        { path: '/api/**', methods: ['POST'], upstream: 'api', csrf: false },
        { path: '/api/**', upstream: 'api', stripPrefix: '/other' },
        { path: '/auth/**', upstream: 'api' },
      ],
      session: { idleTimeout: '13h' },
    })).toEqual([
      'upstreams[1].name: duplicate upstream name "api"',
      'routes[0].csrf: false is only allowed on routes whose methods are GET and HEAD',
      'routes[1].stripPrefix: must be a prefix of the route path "/api/**"',
      'routes[2].path: this path is reserved for Gatehouse itself',
      'session.idleTimeout: must not be longer than session.absoluteTimeout',
    ]);
  });

  it('takes websocket routes (SPEC §10) on GET only, and maxMessageSize only on them', () => {
    const parsed = parseConfig({ upstreams: [upstream], routes: [{ path: '/ws/**', upstream: 'api', websocket: true, maxMessageSize: '64kb' }] }, '/x');
    expect(parsed.routes[0]!.websocket).toBe(true);
    expect(parsed.routes[0]!.maxMessageSize).toBe(64 * 1024);
    expect(parseConfig({ upstreams: [upstream], routes: [{ path: '/api/**', upstream: 'api' }] }, '/x').routes[0]!.websocket).toBe(false);
    expect(problemsOf({
      upstreams: [upstream],
      routes: [
        { path: '/ws/**', methods: ['GET', 'POST'], upstream: 'api', websocket: true },
        { path: '/api/**', upstream: 'api', maxMessageSize: '1mb' },
        { path: '/x/**', upstream: 'api', websocket: true, maxMessageSize: 'lots' },
      ],
    })).toEqual([
      'routes[2].maxMessageSize: expected a size like "1mb"',
    ]);
    expect(problemsOf({
      upstreams: [upstream],
      routes: [
        { path: '/ws/**', methods: ['GET', 'POST'], upstream: 'api', websocket: true },
        { path: '/api/**', upstream: 'api', maxMessageSize: '1mb' },
      ],
    })).toEqual([
      'routes[0].websocket: true is only allowed on routes whose methods are [GET]',
      'routes[1].maxMessageSize: only applies to a route with websocket: true',
    ]);
  });

  it('refuses nonsense rate rules with the key path', () => {
    const problems = problemsOf({ limits: [{ name: 'r', by: 'ip', max: 0, per: '1m', action: 'explode' }] });
    expect(problems).toContain('limits[0].max: expected a whole number of at least 1');
    expect(problems).toContain('limits[0].action: expected reject, block, revoke or respond');
    expect(problemsOf({
      limits: [
        { name: 'a', by: 'ip', max: 5, per: '1m', action: 'revoke' },
        { name: 'b', by: 'user', max: 5, per: '1m', action: 'block' },
        { name: 'c', by: 'session', max: 5, per: '1m', action: 'respond' },
        { name: 'd', by: 'session', max: 5, per: '1m', action: 'reject', for: '5m' },
        { name: 'a', by: 'ip', max: 5, per: 'forever', action: 'reject' },
        { name: 'e', by: 'host', max: 5, per: '1m', action: 'reject', match: { path: '/api/**', status: '6xx' } },
      ],
    })).toEqual([
      'limits[4].per: expected a duration like "30m"',
      'limits[5].match.status: expected a status like 404 or "4xx"',
      'limits[5].by: expected ip, session or user',
    ]);
    expect(problemsOf({
      limits: [
        { name: 'a', by: 'ip', max: 5, per: '1m', action: 'revoke' },
        { name: 'b', by: 'user', max: 5, per: '1m', action: 'block' },
        { name: 'c', by: 'session', max: 5, per: '1m', action: 'respond' },
        { name: 'd', by: 'session', max: 5, per: '1m', action: 'reject', for: '5m' },
        { name: 'a', by: 'ip', max: 5, per: '1m', action: 'reject' },
      ],
    })).toEqual([
      'limits[0].action: revoke needs by: session or by: user (an address has no session to revoke)',
      'limits[1].for: block needs a duration like "15m"',
      'limits[2].respond: respond needs {status, body, headers}',
      'limits[3].for: only allowed with action: block',
      'limits[4].name: duplicate rule name "a"',
    ]);
  });
});

describe('loadConfig', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a missing file, bad YAML and duplicate keys as one sentence each', () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
    expect(() => loadConfig(join(dir, 'absent.yaml'))).toThrow(/configuration file .*absent\.yaml does not exist/);
    writeFileSync(join(dir, 'bad.yaml'), 'server: [unclosed\n');
    expect(() => loadConfig(join(dir, 'bad.yaml'))).toThrow(/invalid YAML at line/);
    writeFileSync(join(dir, 'dup.yaml'), 'server:\n  port: 1\nserver:\n  port: 2\n');
    expect(() => loadConfig(join(dir, 'dup.yaml'))).toThrow(ConfigError);
  });
});

describe('store and cache (SPEC §8)', () => {
  const cache = { redis: 'redis://127.0.0.1:6379/0' };

  it('keeps SQLite the default, and takes store.postgres with its pool and timeout defaults, and a cache with its own', () => {
    expect(parseConfig({}, '/etc/gatehouse').store).toEqual({ sqlite: '/etc/gatehouse/data/gatehouse.db' });
    expect(parseConfig({ store: { sqlite: 'x.db' } }, '/etc/gatehouse').store).toEqual({ sqlite: '/etc/gatehouse/x.db' });
    expect(parseConfig({}, '/x').cache).toBeUndefined();
    const config = parseConfig({ store: { postgres: 'postgres://gh@db.internal:5432/gatehouse' }, cache }, '/x');
    expect(config.store).toEqual({ postgres: 'postgres://gh@db.internal:5432/gatehouse', pool: 10, timeout: 2_000 });
    expect(config.cache).toEqual({ redis: 'redis://127.0.0.1:6379/0', prefix: 'gh:', timeout: 100 });
    expect(parseConfig({
      store: { postgres: 'postgresql:///gatehouse?host=/run/postgresql', pool: 4, timeout: '500ms' },
      cache: { redis: 'rediss://cache.internal:6380', prefix: 'gate:', timeout: '50ms' },
    }, '/x')).toMatchObject({
      store: { postgres: 'postgresql:///gatehouse?host=/run/postgresql', pool: 4, timeout: 500 },
      cache: { redis: 'rediss://cache.internal:6380', prefix: 'gate:', timeout: 50 },
    });
  });

  it('keeps env: sources as they are and resolves a file: source against the config folder', () => {
    expect(parseConfig({ store: { postgres: 'env:DATABASE_URL' }, cache: { redis: 'env:REDIS_URL' } }, '/x')).toMatchObject({
      store: { postgres: 'env:DATABASE_URL' }, cache: { redis: 'env:REDIS_URL' },
    });
    expect(parseConfig({ store: { postgres: 'file:secrets/db-url' }, cache }, '/etc/gatehouse').store).toMatchObject({ postgres: 'file:/etc/gatehouse/secrets/db-url' });
  });

  it('wants exactly one engine, a postgres URL, a positive whole pool, and names the key path', () => {
    expect(problemsOf({ store: { sqlite: 'a.db', postgres: 'postgres://h/db' }, cache })).toEqual(['store: give either sqlite or postgres, not both']);
    expect(problemsOf({ store: {} })).toEqual(['store: expected sqlite: PATH or postgres: URL']);
    expect(problemsOf({ store: { pool: 5 } })).toEqual(['store: expected sqlite: PATH or postgres: URL']);
    const url = 'expected a postgres:// or postgresql:// URL, "env:VARNAME" or "file:PATH"';
    for (const postgres of ['mysql://h/db', 'http://h/db', 'db.internal:5432', 'env:', 'env:1X', 'file:', 42]) {
      expect(problemsOf({ store: { postgres }, cache })).toEqual([`store.postgres: ${url}`]);
    }
    for (const pool of [0, -1, 2.5, '10']) {
      expect(problemsOf({ store: { postgres: 'postgres://h/db', pool }, cache })).toEqual(['store.pool: expected a whole number of at least 1']);
    }
    expect(problemsOf({ store: { postgres: 'postgres://h/db', timeout: 'soon' }, cache })).toEqual(['store.timeout: expected a duration like "30m"']);
    expect(problemsOf({ store: { sqlite: 'a.db', pool: 5, timeout: '1s' } })).toEqual(['store.pool: only allowed with store.postgres', 'store.timeout: only allowed with store.postgres']);
    expect(problemsOf({ store: { postgres: 'postgres://h/db', user: 'x' }, cache })).toEqual(['store.user: unknown key']);
  });

  it('requires a cache with store.postgres and refuses one with store.sqlite', () => {
    expect(problemsOf({ store: { postgres: 'postgres://h/db' } })).toEqual([
      'cache: required with store.postgres: { redis: URL } for the counters and messages the nodes share',
    ]);
    expect(problemsOf({ cache })).toEqual(['cache: only used with store.postgres (with store.sqlite the counters live in the SQLite file)']);
    const store = { postgres: 'postgres://h/db' };
    expect(problemsOf({ store, cache: {} })).toEqual(['cache.redis: expected a redis:// or rediss:// URL, or "env:VARNAME"']);
    expect(problemsOf({ store, cache: { redis: 'file:/run/redis-url' } })).toEqual(['cache.redis: expected a redis:// or rediss:// URL, or "env:VARNAME"']);
    expect(problemsOf({ store, cache: { redis: 'postgres://h/db', prefix: '', timeout: '0ms', extra: 1 } })).toEqual([
      'cache.redis: expected a redis:// or rediss:// URL, or "env:VARNAME"',
      'cache.prefix: expected 1 to 64 visible ASCII characters like "gh:"',
      'cache.timeout: expected a duration like "30m"',
      'cache.extra: unknown key',
    ]);
  });

  it('never repeats a URL, so never its password, in a problem', () => {
    const password = 'Pa55-w0rd-in-the-url';
    const messages = [
      ...problemsOf({ store: { postgres: `mysql://gh:${password}@db/gatehouse` }, cache: { redis: `http://:${password}@cache:6379` } }),
      ...problemsOf({ store: { postgres: `postgres://gh:${password}@db/gatehouse`, sqlite: 'a.db' }, cache }),
      ...problemsOf({ store: { sqlite: 'a.db' }, cache: { redis: `redis://:${password}@cache:6379` } }),
      ...problemsOf({ store: { postgres: `postgres://gh:${password}@db/gatehouse`, pool: 0 } }),
    ];
    expect(messages).toHaveLength(5);
    for (const message of messages) expect(message).not.toContain(password);
  });
});
