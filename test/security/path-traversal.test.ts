import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { login } from '../helpers/http.js';
import { rawExchange, rawHead, type RawExchange } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Path traversal: dot segments (plain, encoded, overlong, with matrix parameters) that climb out of
 * an allowed route — or out of the upstream path a `stripPrefix` route maps to — to reach what the
 * allowlist does not allow, or out of the static site's folder (SPEC §4.4). Sent over raw sockets:
 * HTTP clients resolve dot segments themselves before sending.
 *
 * The upstream "weather" lives under the base path /weather and is reachable only through the
 * public route /api/weather/** (stripPrefix /api/weather), so every request that reaches it must
 * ask for /weather or something below it. Everything else on that upstream (/admin, /internal…)
 * is what an attacker wants.
 */

let alice: string;

const env = useGateway((upstream) => ({
  config: {
    static: fileURLToPath(new URL('../fixtures/site', import.meta.url)),
    upstreams: [
      { name: 'api', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' },
      { name: 'weather', url: `${upstream.url}/weather`, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' },
    ],
    routes: [
      { path: '/api/weather/**', methods: ['GET'], upstream: 'weather', stripPrefix: '/api/weather', public: true },
      { path: '/api/admin/**', methods: ['GET', 'POST'], upstream: 'api', roles: ['admin'] },
      { path: '/api/**', methods: ['GET', 'POST'], upstream: 'api', stripPrefix: '/api' },
    ],
  },
}));
beforeAll(async () => {
  alice = await login(env.gw.url);
});

async function get(target: string, session?: string): Promise<RawExchange> {
  return rawExchange(env.gw.gateway.port, rawHead(`GET ${target} HTTP/1.1`, session === undefined ? { csrf: true } : { session }));
}

/** Every request that reached the weather upstream stayed inside its base path. */
function expectInsideWeather(): void {
  for (const seen of env.upstream.seen) {
    const path = seen.url.split('?', 1)[0]!;
    expect(path, 'the upstream was reached outside /weather').toMatch(/^\/weather(\/.*)?$/);
    expect(path, 'a dot segment or encoded separator reached the upstream').not.toMatch(/(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i);
  }
}

describe('path traversal', () => {
  it('an honest request reaches /weather (so the refusals below are about the traversal)', async () => {
    const ok = await get('/api/weather/today');
    expect(ok.statuses).toEqual([200]);
    expect(env.upstream.seen.map((s) => s.url)).toEqual(['/weather/today']);
  });

  it('plain ../ in the request target never leaves the route it climbed from unchecked', async () => {
    const attacks = [
      '/api/weather/../admin/users',
      '/api/weather/../../admin',
      '/api/weather/today/../../../internal',
      '/api/weather/./../admin/users',
      '/api/weather/../../../../../../etc/passwd',
      '/api/weather/..',
      '/api/weather/x/..//../admin/users',
    ];
    for (const target of attacks) {
      const reply = await get(target);
      // Climbing into /api/admin or /api/** needs a session (401); anything else is unrouted (404)
      // or rejected (400). Never a 2xx from the weather route.
      expect([400, 401, 404], target).toContain(reply.statuses[0]);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('encoded dot segments (%2e, mixed case, half-encoded) do not climb out of /weather either', async () => {
    const attacks = [
      '/api/weather/%2e%2e/%2e%2e/admin',
      '/api/weather/%2E%2E/%2E%2E/admin',
      '/api/weather/.%2e/.%2E/admin',
      '/api/weather/%2e./%2e./admin',
      '/api/weather/today/%2e%2e/%2e%2e/%2e%2e/internal',
    ];
    for (const target of attacks) {
      const reply = await get(target);
      expect([400, 401, 404], target).toContain(reply.statuses[0]);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('dot segments that only look like dot segments further down are refused: ..;/, ..%3b, backslashes, encoded slashes', async () => {
    const attacks = [
      '/api/weather/..;/admin',
      '/api/weather/..;x=1/admin',
      '/api/weather/.;/..;/admin',
      '/api/weather/..%3b/admin',
      '/api/weather/..%3B/admin',
      '/api/weather/..%2fadmin',
      '/api/weather/%2e%2e%2fadmin',
      '/api/weather/..%5cadmin',
      '/api/weather/..\\admin',
      '/api/weather\\..\\..\\admin',
      '/api/weather/%252e%252e/admin',
      '/api/weather/%25%32%65%25%32%65/admin',
      '/api/weather/%c0%ae%c0%ae/admin',
      '/api/weather/%e0%80%ae%e0%80%ae/admin',
      '/api/weather/%c0%2e%c0%2e/admin',
      '/api/weather/..%00/admin',
      '/api/weather/%00/../admin',
      '/api/weather/..%c0%af../admin',
    ];
    for (const target of attacks) {
      const reply = await get(target);
      expect(reply.statuses, target).toEqual([400]);
      expect(reply.text, target).toContain('"bad_request"');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('with a session, the climbs still never leave the route a path normalises to', async () => {
    const attacks = [
      '/api/weather/../admin/users',
      '/api/weather/%2e%2e/admin/users',
      '/api/x/../admin/users',
      '/api/x/%2e%2e/admin/users',
      '/api/%2e%2e/admin',
      '/api/x/../../admin',
    ];
    for (const target of attacks) {
      const reply = await get(target, alice);
      // /api/admin/** needs the admin role alice does not have; above /api nothing is routed.
      expect([400, 403, 404], target).toContain(reply.statuses[0]);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('/api/%2e%2e/x is 400 or 404 and never reaches the upstream outside the route prefix', async () => {
    for (const session of [undefined, alice]) {
      const reply = await get('/api/%2e%2e/x', session);
      expect([400, 404]).toContain(reply.statuses[0]);
    }
    expect(env.upstream.seen.filter((s) => !s.url.startsWith('/weather'))).toHaveLength(0);
    expectInsideWeather();
  });

  it('a stripPrefix route cannot be climbed out of to reach another path of its upstream', async () => {
    // Whatever the gateway accepts below /api/weather, the upstream only ever sees /weather/…
    const probes = [
      '/api/weather/a/../b',
      '/api/weather/a/%2e%2e/b',
      '/api/weather//b',
      '/api/weather/./b',
      '/api/weather/....//b',
      '/api/weather/.../b',
      '/api/weather/a/b/../../c',
      '/api/weather/%2e%2e',
      '/api/weather/a/..',
      '/api/weather?x=/../../admin',
      '/api/weather/b?path=../../admin',
    ];
    for (const target of probes) await get(target);
    expect(env.upstream.seen.length).toBeGreaterThan(5);
    expectInsideWeather();
  });

  it('absolute-form, authority-form and asterisk targets are refused and never forwarded', async () => {
    const targets = [
      'http://evil.example/',
      `http://127.0.0.1:${env.upstream.port}/admin`,
      'http://localhost:8080/api/weather/../../admin',
      'https://localhost:8080/api/weather/today',
      '//evil.example/api/weather/today',
      '*',
    ];
    for (const target of targets) {
      const reply = await get(target);
      expect(reply.statuses, target).toHaveLength(1);
      expect([400, 404], target).toContain(reply.statuses[0]);
    }
    const connectForm = await rawExchange(env.gw.gateway.port, 'GET 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n');
    expect(connectForm.statuses).toEqual([400]);
    expect(env.upstream.seen.filter((s) => !s.url.startsWith('/weather'))).toHaveLength(0);
  });

  it('the static site cannot be climbed out of, nor its hidden files read', async () => {
    const attacks = [
      '/../fixtures/site/.env',
      '/../../helpers/gateway.ts',
      '/sub/../../security/path-traversal.test.ts',
      '/%2e%2e/%2e%2e/helpers/gateway.ts',
      '/sub/%2e%2e/%2e%2e/helpers/gateway.ts',
      '/.env',
      '/%2eenv',
      '/%2Eenv',
      '/sub/../.env',
      '/sub/%2e%2e/.env',
      '/./.env',
      '/.env/',
      '/..%2f..%2fhelpers/gateway.ts',
      '/..\\..\\helpers\\gateway.ts',
      '/.env%00.html',
      '/index.html/../.env',
    ];
    for (const target of attacks) {
      const reply = await get(target);
      expect([400, 404], target).toContain(reply.statuses[0]);
      expect(reply.text, target).not.toContain('secret-ish');
      expect(reply.text, target).not.toContain('startGateway');
    }
  });
});
