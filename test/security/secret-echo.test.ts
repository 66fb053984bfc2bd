import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliCompressSync, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { login } from '../helpers/http.js';
import { auditEvents, firstBody, rawExchange, rawHead, sleep, type RawExchange } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Secret echo: the upstream reflects the credential Gatehouse attached (a debug endpoint that
 * dumps request headers, an error page quoting the request, a redirect carrying it). SPEC §4.4: the
 * response is withheld (502 secret_leak_blocked) or the stream is cut, no fragment of the secret is
 * delivered, and an audit event is written.
 *
 * The secret has characters that change under URL, form and JSON encoding, so the echoes below
 * exercise those forms too; none of its first 8 bytes appear in anything Gatehouse says itself.
 */

const SECRET = 'zq7Kp2Xv9LmW/4tRb+8NcY=3hJd6"FgS';
const FRAGMENT = SECRET.slice(0, 8);

let alice: string;

const env = useGateway({ secret: SECRET });
beforeAll(async () => {
  alice = await login(env.gw.url);
});

const authorization = (req: IncomingMessage): string => String(req.headers.authorization);

interface Attempt {
  reply: RawExchange;
  /** Leak events in the audit trail before the request, to find the one it caused. */
  leaksBefore: number;
  method: string;
}

async function attempt(path = '/api/echo', headers: string[] = [], method = 'GET'): Promise<Attempt> {
  const leaksBefore = (await auditEvents(env.gw, 'secret_leak_blocked')).length;
  const session = path.startsWith('/api/public/') ? {} : { session: alice };
  const reply = await rawExchange(env.gw.gateway.port, rawHead(`${method} ${path} HTTP/1.1`, { ...session, csrf: true, headers }), { timeoutMs: 5000 });
  return { reply, leaksBefore, method };
}

/** Not a byte of the secret's first 8, in any form the client could read the bytes in. */
function expectNoFragment(reply: RawExchange): void {
  expect(reply.bytes.includes(FRAGMENT), 'a fragment of the secret reached the client').toBe(false);
  expect(reply.text.toLowerCase()).not.toContain(FRAGMENT.toLowerCase());
}

/**
 * Either a clean 502 secret_leak_blocked, or a response cut before it ended (possibly before its
 * head was flushed); and, either way, one new audit event that does not quote the secret.
 */
async function expectWithheld({ reply, leaksBefore, method }: Attempt): Promise<void> {
  expectNoFragment(reply);
  if (reply.statuses[0] === 502) {
    if (method !== 'HEAD') expect(reply.text).toContain('"secret_leak_blocked"');
  } else {
    expect(reply.closed, 'the stream was cut').toBe(true);
    expect(reply.text.endsWith('\r\n0\r\n\r\n'), 'the chunked body was not allowed to finish').toBe(false);
  }
  await expect.poll(async () => (await auditEvents(env.gw, 'secret_leak_blocked')).length, { timeout: 2000 }).toBe(leaksBefore + 1);
  const [event] = await auditEvents(env.gw, 'secret_leak_blocked');
  expect(JSON.stringify(event)).not.toContain(FRAGMENT);
}

describe('secret echo', () => {
  it('an upstream that does not echo is relayed (so the refusals below are about the echo)', async () => {
    const { reply } = await attempt();
    expect(reply.statuses).toEqual([200]);
    expect(env.upstream.seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('small body: the echoed Authorization header → 502 secret_leak_blocked', async () => {
    env.upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`you sent ${authorization(req)}`);
    });
    const result = await attempt();
    expect(result.reply.statuses).toEqual([502]);
    await expectWithheld(result);
  });

  it('small body in the encodings an upstream would use: JSON-escaped, URL-encoded, form-encoded', async () => {
    const echoes = [
      (value: string) => JSON.stringify({ headers: { authorization: value } }),
      (value: string) => `<a href="/retry?auth=${encodeURIComponent(value)}">retry</a>`,
      (value: string) => new URLSearchParams({ token: value }).toString(),
    ];
    for (const echo of echoes) {
      env.upstream.handle((req, res) => res.end(echo(authorization(req).slice('Bearer '.length))));
      const result = await attempt();
      expect(result.reply.statuses).toEqual([502]);
      await expectWithheld(result);
    }
  });

  it('large body (2 MB) with the secret in the middle: withheld or cut, no fragment delivered', async () => {
    env.upstream.handle((req, res) => {
      const filler = 'x'.repeat(1024 * 1024);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${filler}${authorization(req)}${filler}`);
    });
    await expectWithheld(await attempt());
  });

  it('split across many small chunks with delays, one byte at a time: no fragment delivered', async () => {
    env.upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'.repeat(4096));
      void (async () => {
        for (const byte of authorization(req)) {
          await sleep(5);
          if (res.destroyed) return;
          res.write(byte);
        }
        res.end('tail');
      })();
    });
    await expectWithheld(await attempt());
  });

  it('the secret as the very last bytes of a long body: no fragment delivered', async () => {
    env.upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('y'.repeat(200_000));
      setTimeout(() => res.end(authorization(req).slice('Bearer '.length)), 30);
    });
    await expectWithheld(await attempt());
  });

  it('the secret as the whole body, arriving in two halves: no fragment delivered', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(SECRET.slice(0, 16));
      setTimeout(() => res.end(SECRET.slice(16)), 30);
    });
    await expectWithheld(await attempt());
  });

  it('in a response header → 502, on GET and HEAD', async () => {
    const writers: ((req: IncomingMessage, res: ServerResponse) => void)[] = [
      (req, res) => res.writeHead(200, { 'x-debug-authorization': authorization(req) }).end('{}'),
      (req, res) => res.writeHead(200, { 'x-debug': JSON.stringify(authorization(req)) }).end('{}'),
      (req, res) => res.writeHead(204, { 'x-debug': authorization(req) }).end(),
      (req, res) => res.writeHead(200, { link: `</next?auth=${encodeURIComponent(authorization(req))}>; rel=next` }).end('{}'),
    ];
    for (const write of writers) {
      env.upstream.handle(write);
      for (const method of ['GET', 'HEAD']) {
        const result = await attempt('/api/echo', [], method);
        expect(result.reply.statuses, method).toEqual([502]);
        await expectWithheld(result);
      }
    }
  });

  it('in a redirect Location (plain and percent-encoded) → 502, the redirect is not relayed', async () => {
    for (const location of [`https://elsewhere.example/cb?token=${SECRET}`, `https://elsewhere.example/cb?token=${encodeURIComponent(SECRET)}`, `/login?next=${encodeURIComponent(`Bearer ${SECRET}`)}`]) {
      env.upstream.handle((_req, res) => res.writeHead(302, { location }).end());
      const result = await attempt();
      expect(result.reply.statuses).toEqual([502]);
      expect(result.reply.text.toLowerCase()).not.toContain('location:');
      await expectWithheld(result);
    }
  });

  it('gzip-, deflate- and br-compressed bodies are decoded before the check → 502', async () => {
    const codings: [string, (b: Buffer) => Buffer][] = [['gzip', gzipSync], ['deflate', deflateSync], ['br', brotliCompressSync], ['gzip, gzip', (b) => gzipSync(gzipSync(b))]];
    for (const [coding, compress] of codings) {
      env.upstream.handle((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding });
        res.end(compress(Buffer.from(JSON.stringify({ echoed: authorization(req) }))));
      });
      // With and without the client asking for compression: the upstream may compress anyway.
      for (const headers of [['Accept-Encoding: gzip, deflate, br'], []]) {
        const result = await attempt('/api/echo', headers);
        expect(result.reply.statuses, coding).toEqual([502]);
        await expectWithheld(result);
      }
    }
  });

  it('a gzip transfer-coding (Transfer-Encoding: gzip, chunked) does not carry the secret past the check', async () => {
    env.upstream.handle((req) => {
      const body = gzipSync(Buffer.from(JSON.stringify({ echoed: authorization(req) })));
      req.socket.end(Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body.length.toString(16)}\r\n`),
        body,
        Buffer.from('\r\n0\r\n\r\n'),
      ]));
    });
    const { reply } = await attempt();
    expectNoFragment(reply);
    // The gateway drops the Transfer-Encoding header; a script that reads the bytes could still inflate them.
    const body = firstBody(reply.bytes);
    const inflated = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body, { finishFlush: 2 }).toString('latin1') : body.toString('latin1');
    expect(inflated, 'the body relayed to the client holds the secret, gzip-compressed').not.toContain(FRAGMENT);
  });

  it('in the status line, a 103 Early Hints response or trailers: never relayed', async () => {
    env.upstream.handle((req, res) => {
      res.writeEarlyHints({ link: `</x?auth=${encodeURIComponent(authorization(req))}>; rel=preload`, 'x-auth': authorization(req) });
      res.writeHead(200, `OK ${authorization(req)}`, { 'content-type': 'text/plain', trailer: 'x-auth' });
      res.write('fine');
      res.addTrailers({ 'x-auth': authorization(req) });
      res.end();
    });
    const { reply } = await attempt('/api/echo', ['TE: trailers']);
    expectNoFragment(reply);
  });

  it('an upstream that reflects the whole request (a debug endpoint) is withheld', async () => {
    env.upstream.handle((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
    await expectWithheld(await attempt('/api/echo?reflect=1', ['X-Reflect: please']));
  });

  it('a public route is guarded the same way', async () => {
    env.upstream.handle((req, res) => res.end(`public ${authorization(req)}`));
    const result = await attempt('/api/public/echo');
    expect(result.reply.statuses).toEqual([502]);
    await expectWithheld(result);
  });

  it('the secret never reaches a log line either', () => {
    expect(env.gw.logs()).not.toContain(FRAGMENT);
    expect(env.gw.logs()).toContain('secret_leak_blocked');
  });
});
