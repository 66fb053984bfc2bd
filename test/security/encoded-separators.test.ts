import { beforeAll, describe, expect, it } from 'vitest';
import { login } from '../helpers/http.js';
import { rawExchange, rawHead } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Encoded separators: the gateway routes on one reading of the path and the env.upstream, decoding
 * once more, acts on another. `/api/public/..%2fadmin` is one harmless segment to a router that
 * keeps `%2F` opaque, and `/admin` to an upstream that decodes it. SPEC §4.4: a path that still
 * contains an encoded "/", "\" or "..", or a NUL, after normalisation is 400 `bad_request` —
 * including double encodings and overlong UTF-8 forms aimed at upstreams that decode twice or
 * decode sloppily. Raw sockets, because HTTP clients re-encode paths.
 */

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

/** Each payload is placed inside a path of the public route and of the session route. */
const payloads: Record<string, string> = {
  'encoded slash': '..%2fadmin',
  'encoded slash, upper case': '..%2Fadmin',
  'encoded slash alone': 'a%2fb',
  'encoded dot-dot-slash': '%2e%2e%2fadmin',
  'encoded backslash': '..%5cadmin',
  'encoded backslash, upper case': '..%5Cadmin',
  'literal backslash': '..\\admin',
  'encoded NUL': 'file%00.json',
  'encoded NUL at the end': 'a%00',
  'double-encoded slash': '..%252fadmin',
  'double-encoded slash, upper case': '..%252Fadmin',
  'double-encoded backslash': '..%255cadmin',
  'double-encoded dot': '%252e%252e/admin',
  'double-encoded NUL': 'a%2500',
  'triple-encoded slash': '..%25252fadmin',
  'double encoding spelled with encoded digits': '..%25%32%66admin',
  'overlong 2-byte slash (C0 AF)': '..%c0%afadmin',
  'overlong 3-byte slash (E0 80 AF)': '..%e0%80%afadmin',
  'overlong 4-byte slash (F0 80 80 AF)': '..%f0%80%80%afadmin',
  'overlong backslash (C1 9C)': '..%c1%9cadmin',
  'overlong dot (C0 AE)': '%c0%ae%c0%ae/admin',
  'overlong NUL (C0 80)': 'a%c0%80',
  'lone continuation byte': 'a%afb',
  'truncated multi-byte sequence': 'a%e2%82',
  'IIS %u slash': '..%u002fadmin',
  'IIS %u backslash': '..%u005cadmin',
  'truncated escape': 'a%2',
  'invalid escape': 'a%zzb',
  'encoded CR LF': 'a%0d%0aX-Injected:%201',
  'encoded tab': 'a%09b',
  'encoded DEL': 'a%7fb',
};

async function expectBadRequest(target: string, session?: string, label = target): Promise<void> {
  const reply = await rawExchange(env.gw.gateway.port, rawHead(`GET ${target} HTTP/1.1`, session === undefined ? { csrf: true } : { session }));
  expect(reply.statuses, label).toEqual([400]);
  expect(reply.text, label).toContain('"bad_request"');
}

describe('encoded separators', () => {
  it('honest paths with harmless escapes are forwarded (so the refusals below are about separators)', async () => {
    const reply = await rawExchange(env.gw.gateway.port, rawHead('GET /api/public/caf%C3%A9/%7Euser/a%20b HTTP/1.1', { csrf: true }));
    expect(reply.statuses).toEqual([200]);
    expect(env.upstream.seen.map((s) => s.url)).toEqual(['/caf%C3%A9/~user/a%20b']);
  });

  it('on a public route: every encoded separator, NUL and double or overlong encoding is 400, never forwarded', async () => {
    for (const [label, payload] of Object.entries(payloads)) {
      await expectBadRequest(`/api/public/${payload}`, undefined, label);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('on a session route, with a valid session: the same, never forwarded', async () => {
    for (const [label, payload] of Object.entries(payloads)) {
      await expectBadRequest(`/api/${payload}`, alice, label);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('an encoded separator cannot hide the route prefix itself', async () => {
    for (const target of ['/api%2fadmin/x', '/api%2Fpublic%2F..%2Fadmin', '%2fapi/public/x', '/api/public%5c..%5cadmin', '/api%00/public/x']) {
      await expectBadRequest(target, alice);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a raw NUL or raw non-ASCII byte in the target is refused too', async () => {
    for (const target of ['/api/public/a\0b', '/api/public/caf\u00e9', '/api/public/a\u00c0\u00afb']) {
      const reply = await rawExchange(env.gw.gateway.port, Buffer.from(rawHead(`GET ${target} HTTP/1.1`, { csrf: true }), 'latin1'));
      expect(reply.statuses, JSON.stringify(target)).toEqual([400]);
    }
    expect(env.upstream.seen).toHaveLength(0);
  });
});
