import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { Cancellation, Forwarder, type ForwardInput } from './forwarder.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real upstream on 127.0.0.1, counting the TCP connections it accepts. */
async function upstream(handler: Handler): Promise<{ server: Server; port: number; connections: () => number }> {
  const server = createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

/** A raw TCP upstream, for misbehaviour node:http will not produce. */
async function rawUpstream(onData: (socket: Socket) => void): Promise<{ port: number; requests: () => number }> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => {
      requests++;
      onData(socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  return { port: (server.address() as AddressInfo).port, requests: () => requests };
}

function forwarder(url: string, extra: Partial<UpstreamConfig> = {}, connections?: number): Forwarder {
  const f = new Forwarder({ name: 'test', url, timeout: 5_000, assertion: false, ...extra }, connections === undefined ? {} : { connections });
  cleanups.push(() => f.close());
  return f;
}

function input(overrides: Partial<ForwardInput> = {}): ForwardInput {
  return { method: 'GET', path: '/', query: '', headers: {}, body: null, requestId: 'req-1', ...overrides };
}

async function text(body: Buffer | Readable): Promise<string> {
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The body of a response the forwarder must stream (unknown or large length, or encoded). */
function streamed(body: Buffer | Readable): Readable {
  expect(Buffer.isBuffer(body)).toBe(false);
  return body as Readable;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function expectGatewayError(error: unknown, code: string, port: number): void {
  expect(error).toBeInstanceOf(GatewayError);
  const gatewayError = error as GatewayError;
  expect(gatewayError.code).toBe(code);
  const shown = JSON.stringify(gatewayError.toJSON());
  expect(shown).not.toContain(String(port));
  expect(shown).not.toContain('127.0.0.1');
}

/** A freshly closed port: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('Forwarder: the request and the response', () => {
  it('sends method, base path + path, query, headers and body; relays status, headers and body', async () => {
    const up = await upstream(async (req, res) => {
      const body = await text(req);
      res.setHeader('x-upstream', 'yes');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
    const f = forwarder(`http://127.0.0.1:${up.port}/base/`);
    const response = await f.forward(input({
      method: 'POST',
      path: '/v1/items',
      query: 'a=1&b=%2e%2e',
      headers: { 'content-type': 'text/plain', 'x-custom': ['one', 'two'], 'x-request-id': 'client' },
      body: Readable.from([Buffer.from('hello '), Buffer.from('world')]),
    }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-upstream']).toBe('yes');
    const seen = JSON.parse(await text(response.body));
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/base/v1/items?a=1&b=%2e%2e');
    expect(seen.headers['content-type']).toBe('text/plain');
    expect(seen.headers['x-custom']).toBe('one, two');
    expect(seen.headers['x-request-id']).toBe('req-1');
    expect(seen.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(seen.body).toBe('hello world');
  });

  it('relays redirects instead of following them', async () => {
    const up = await upstream((req, res) => {
      if (req.url === '/elsewhere') res.end('followed');
      else res.writeHead(302, { location: '/elsewhere' }).end();
    });
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input({ path: '/start' }));
    expect(response.statusCode).toBe(302);
    expect(response.headers['location']).toBe('/elsewhere');
    await text(response.body);
  });
});

describe('Forwarder: whole bodies and streamed bodies', () => {
  it('collects a small response of declared length whole, and streams one of unknown length, a larger one, or an encoded one', async () => {
    const large = 'x'.repeat(64 * 1024 + 1);
    const up = await upstream((req, res) => {
      if (req.url === '/small') res.writeHead(200, { 'content-length': '5' }).end('small');
      else if (req.url === '/limit') res.writeHead(200, { 'content-length': String(64 * 1024) }).end('y'.repeat(64 * 1024));
      else if (req.url === '/large') res.writeHead(200, { 'content-length': String(large.length) }).end(large);
      else if (req.url === '/gzip') res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync('zipped'));
      else res.write('chunked', () => res.end()); // written before end: chunked, no Content-Length
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`);
    const small = await f.forward(input({ path: '/small' }));
    expect(Buffer.isBuffer(small.body) && small.body.toString()).toBe('small');
    const atLimit = await f.forward(input({ path: '/limit' }));
    expect(Buffer.isBuffer(atLimit.body) && atLimit.body.length).toBe(64 * 1024);
    expect(await text(streamed((await f.forward(input({ path: '/large' }))).body))).toBe(large);
    expect(await text(streamed((await f.forward(input({ path: '/chunked' }))).body))).toBe('chunked');
    expect(await text(streamed((await f.forward(input({ path: '/gzip' }))).body))).toBe('zipped');
  });

  it('fails a whole body the upstream cuts short with upstream_unavailable', async () => {
    const up = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part');
      setTimeout(() => socket.destroy(), 10);
    });
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input()));
    expectGatewayError(error, 'upstream_unavailable', up.port);
  });

  it('answers a request still queued for a socket at once when the client goes away, and never sends it', async () => {
    const seen: string[] = [];
    const up = await upstream((req, res) => {
      seen.push(req.url!);
      setTimeout(() => res.end('slow'), 400);
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`, {}, 1);
    const slow = f.forward(input({ path: '/slow' }));
    const cancel = new Cancellation();
    const queued = f.forward(input({ path: '/queued', cancel }));
    const started = Date.now();
    setTimeout(() => cancel.cancel(), 50);
    const error = await rejection(queued);
    expect(error).not.toBeInstanceOf(GatewayError);
    expect(Date.now() - started).toBeLessThan(350);
    expect(await text((await slow).body)).toBe('slow');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual(['/slow']);
  });
});

describe('Forwarder: connection pooling', () => {
  it('reuses one keep-alive connection for many sequential requests', async () => {
    const up = await upstream((_req, res) => res.end('ok'));
    const f = forwarder(`http://127.0.0.1:${up.port}`);
    for (let i = 0; i < 50; i++) {
      const response = await f.forward(input({ path: `/n/${i}` }));
      expect(await text(response.body)).toBe('ok');
    }
    // undici opens a second socket for the second request (the first is not yet marked idle when
    // the next request is dispatched), then reuses the two; without pooling this would be 50.
    expect(up.connections()).toBeLessThanOrEqual(2);
  });

  it('opens no more connections than allowed, queueing the rest', async () => {
    const up = await upstream((_req, res) => setTimeout(() => res.end('ok'), 20));
    const f = forwarder(`http://127.0.0.1:${up.port}`, {}, 3);
    const bodies = await Promise.all(Array.from({ length: 20 }, () => f.forward(input()).then((r) => text(r.body))));
    expect(bodies.every((b) => b === 'ok')).toBe(true);
    expect(up.connections()).toBeLessThanOrEqual(3);
  });
});

describe('Forwarder: streaming', () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const total = 50 * 1024 * 1024;

  /** gc() when it can be had, so the memory bound measures live memory rather than garbage. */
  const gc = ((): () => void => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();
  /**
   * Heap plus `external` (which includes every Buffer, per the Node.js docs). Not
   * `arrayBuffers`: it counts undici's fixed ~10 MB llhttp WebAssembly memory only while a JS
   * view on it happens to be alive, which reads as a 10 MB spike that is not an allocation.
   */
  const liveMemory = (): number => {
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  };
  // A buffering forwarder would hold 50 MB.
  const bound = 10 * 1024 * 1024;

  /**
   * One-time costs are not what is measured: undici's llhttp WebAssembly memory grows to its
   * working size (~10 MB) on the first large transfer of the process and stays there, the same for
   * 50 MB as for 200 MB. A few MB each way through the same forwarder get past that.
   */
  const warmUpSize = 4 * 1024 * 1024;
  async function warmUp(f: Forwarder): Promise<void> {
    await text((await f.forward(input({ path: '/warm-up' }))).body);
    async function* some(): AsyncGenerator<Buffer> {
      for (let sent = 0; sent < warmUpSize; sent += chunk.length) yield chunk;
    }
    await text((await f.forward(input({ method: 'PUT', path: '/warm-up', body: Readable.from(some()) }))).body);
  }

  it('delivers the first bytes of a response before the upstream has sent the rest', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const up = await upstream(async (_req, res) => {
      res.write('first;');
      await released;
      res.end('rest');
    });
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input());
    const iterator = streamed(response.body)[Symbol.asyncIterator]();
    expect(String((await iterator.next()).value)).toBe('first;');
    release();
    let rest = '';
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) rest += String(step.value);
    expect(rest).toBe('rest');
  });

  it('streams a 50 MB response without holding it in memory', async () => {
    const up = await upstream((req, res) => {
      const size = req.url === '/warm-up' ? warmUpSize : total;
      let sent = 0;
      const write = (): void => {
        while (sent < size) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', write);
            return;
          }
        }
        res.end();
      };
      write();
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`);
    await warmUp(f);
    const baseline = liveMemory();
    const response = await f.forward(input());
    let received = 0;
    let nextSample = 0;
    let peak = 0;
    for await (const piece of streamed(response.body)) {
      received += (piece as Buffer).length;
      if (received >= nextSample) {
        peak = Math.max(peak, liveMemory() - baseline);
        nextSample += 5 * 1024 * 1024;
      }
    }
    expect(received).toBe(total);
    expect(peak).toBeLessThan(bound);
  });

  it('streams a 50 MB request body without holding it in memory', async () => {
    let peak = 0;
    let baseline = 0;
    const up = await upstream((req, res) => {
      if (req.url === '/warm-up') return void req.resume().on('end', () => res.end('ok'));
      let received = 0;
      let nextSample = 0;
      req.on('data', (piece: Buffer) => {
        received += piece.length;
        if (received >= nextSample) {
          peak = Math.max(peak, liveMemory() - baseline);
          nextSample += 5 * 1024 * 1024;
        }
      });
      req.on('end', () => res.end(String(received)));
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`);
    async function* generate(): AsyncGenerator<Buffer> {
      for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
    }
    await warmUp(f);
    baseline = liveMemory();
    const response = await f.forward(input({ method: 'PUT', body: Readable.from(generate()), headers: { 'content-length': String(total) } }));
    expect(await text(response.body)).toBe(String(total));
    expect(peak).toBeLessThan(bound);
  });
});

describe('Forwarder: the caller ends a response early', () => {
  it('aborts the upstream request when the body is destroyed, without an unhandled error', async () => {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((resolve) => (closed = resolve));
    const up = await upstream((_req, res) => {
      res.write('partial');
      res.on('close', closed);
    });
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input());
    streamed(response.body).destroy();
    await upstreamClosed;
  });

  it('aborts the upstream request when the client goes away mid-body', async () => {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((resolve) => (closed = resolve));
    const up = await upstream((_req, res) => {
      res.write('partial');
      res.on('close', closed);
    });
    const cancel = new Cancellation();
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input({ cancel }));
    cancel.cancel();
    await upstreamClosed;
    await expect(text(response.body)).rejects.toThrow();
  });
});

describe('Forwarder: failures', () => {
  it('maps a refused connection to upstream_unavailable, without the address', async () => {
    const port = await closedPort();
    const error = await rejection(forwarder(`http://127.0.0.1:${port}`).forward(input()));
    expectGatewayError(error, 'upstream_unavailable', port);
  });

  it('maps a failed TLS handshake to upstream_unavailable', async () => {
    const up = await upstream((_req, res) => res.end('plain http'));
    const error = await rejection(forwarder(`https://127.0.0.1:${up.port}`).forward(input()));
    expectGatewayError(error, 'upstream_unavailable', up.port);
  });

  it('maps no response headers within the timeout to upstream_timeout', async () => {
    const up = await upstream(() => {});
    const started = Date.now();
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`, { timeout: 200 }).forward(input()));
    expectGatewayError(error, 'upstream_timeout', up.port);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('counts time spent waiting for a pooled connection against the timeout', async () => {
    const up = await upstream((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 600);
      else res.end('fast');
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`, { timeout: 300 }, 1);
    const slow = f.forward(input({ path: '/slow' })).catch((error: unknown) => error);
    const started = Date.now();
    const queued = await rejection(f.forward(input({ path: '/fast' })));
    expectGatewayError(queued, 'upstream_timeout', up.port);
    // At the deadline, not when the socket it waited for is free again (600 ms).
    expect(Date.now() - started).toBeLessThan(550);
    expectGatewayError(await slow, 'upstream_timeout', up.port);
  });

  it('passes a client abort through unchanged', async () => {
    const up = await upstream(() => {});
    const cancel = new Cancellation();
    const pending = forwarder(`http://127.0.0.1:${up.port}`).forward(input({ cancel }));
    setTimeout(() => cancel.cancel(), 50);
    const error = await rejection(pending);
    expect(error).not.toBeInstanceOf(GatewayError);
  });

  it('passes a GatewayError from the request body (e.g. the size limit) through unchanged', async () => {
    const up = await upstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const body = new Readable({ read() {} });
    body.push('start');
    setTimeout(() => body.destroy(new GatewayError('payload_too_large')), 50);
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input({ method: 'POST', body })));
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('payload_too_large');
  });
});

describe('Forwarder: retry once, only when safe', () => {
  /** An upstream that drops the connection of the first request without answering. */
  async function dropsFirst(): Promise<{ port: number; requests: () => number }> {
    let requests = 0;
    const up = await upstream((req, res) => {
      requests++;
      if (requests === 1) {
        req.socket.destroy();
        return;
      }
      req.resume();
      res.end('second');
    });
    return { port: up.port, requests: () => requests };
  }

  it('retries an idempotent request without a body whose connection dropped before any response byte', async () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) {
      const up = await dropsFirst();
      const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input({ method }));
      expect(response.statusCode, method).toBe(200);
      await text(response.body);
      expect(up.requests(), method).toBe(2);
    }
  });

  it('retries when the upstream drops a kept-alive connection under the next request', async () => {
    const sockets: unknown[] = [];
    const up = await upstream((req, res) => {
      sockets.push(req.socket);
      if (sockets.length === 2) req.socket.destroy();
      else res.end('ok');
    });
    // One connection at most, so the second request must go out on the kept-alive socket.
    const f = forwarder(`http://127.0.0.1:${up.port}`, {}, 1);
    await text((await f.forward(input())).body);
    const response = await f.forward(input());
    expect(await text(response.body)).toBe('ok');
    expect(sockets).toHaveLength(3);
    expect(sockets[1]).toBe(sockets[0]);
    expect(sockets[2]).not.toBe(sockets[0]);
  });

  it('does not retry a non-idempotent method', async () => {
    for (const method of ['POST', 'PATCH']) {
      const up = await dropsFirst();
      const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input({ method })));
      expectGatewayError(error, 'upstream_unavailable', up.port);
      expect(up.requests(), method).toBe(1);
    }
  });

  it('does not retry a request with a body stream, even an idempotent one', async () => {
    const up = await dropsFirst();
    const body = Readable.from([Buffer.from('data')]);
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input({ method: 'PUT', body })));
    expectGatewayError(error, 'upstream_unavailable', up.port);
    expect(up.requests()).toBe(1);
  });

  it('does not retry once a byte of the response has arrived', async () => {
    const up = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 O');
      setTimeout(() => socket.destroy(), 10);
    });
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input()));
    expectGatewayError(error, 'upstream_unavailable', up.port);
    expect(up.requests()).toBe(1);
  });

  it('does not retry a timeout', async () => {
    let requests = 0;
    const up = await upstream(() => {
      requests++;
    });
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`, { timeout: 150 }).forward(input()));
    expectGatewayError(error, 'upstream_timeout', up.port);
    expect(requests).toBe(1);
  });

  it('sends each attempt with its own freshly signed assertion (SPEC §7: jti unique)', async () => {
    const received: unknown[] = [];
    const up = await upstream((req, res) => {
      received.push(req.headers['gatehouse-assertion']);
      if (received.length === 1) {
        req.socket.destroy();
        return;
      }
      res.end('second');
    });
    let signed = 0;
    const assertion = async (): Promise<string> => `assertion-${++signed}`;
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input({ headers: { 'gatehouse-assertion': 'from-the-client' }, assertion }));
    expect(await text(response.body)).toBe('second');
    expect(received).toEqual(['assertion-1', 'assertion-2']);
  });

  it('sends nothing when the client leaves while the assertion is signed', async () => {
    const up = await dropsFirst();
    const cancel = new Cancellation();
    const assertion = (): Promise<string> => new Promise((resolve) => setTimeout(() => resolve('late'), 50));
    const pending = forwarder(`http://127.0.0.1:${up.port}`).forward(input({ cancel, assertion }));
    cancel.cancel();
    const error = await rejection(pending);
    expect(error).toMatchObject({ name: 'AbortError' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(up.requests()).toBe(0);
  });

  it('fails with the signing error and sends nothing when the assertion cannot be signed', async () => {
    const up = await dropsFirst();
    const failure = new Error('no signing key');
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input({ assertion: () => Promise.reject(failure) })));
    expect(error).toBe(failure);
    expect(up.requests()).toBe(0);
  });

  it('fails after one retry', async () => {
    let requests = 0;
    const up = await upstream((req) => {
      requests++;
      req.socket.destroy();
    });
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input()));
    expectGatewayError(error, 'upstream_unavailable', up.port);
    expect(requests).toBe(2);
  });
});

describe('Forwarder: content codings are decoded for the leak guard', () => {
  const plain = 'the plaintext body, long enough to be worth compressing. '.repeat(50);

  it.each([
    ['gzip', gzipSync(plain)],
    ['x-gzip', gzipSync(plain)],
    ['deflate', deflateSync(plain)],
    ['br', brotliCompressSync(plain)],
    ['gzip, br', brotliCompressSync(gzipSync(plain))],
    ['identity', Buffer.from(plain)],
  ])('decodes %s and drops the headers that described the encoded bytes', async (coding, encoded) => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-encoding': coding, 'content-length': encoded.length, etag: '"v1"', 'content-type': 'text/plain' });
      res.end(encoded);
    });
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input());
    expect(await text(response.body)).toBe(plain);
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(response.headers['content-type']).toBe('text/plain');
    if (coding !== 'identity') {
      expect(response.headers['content-length']).toBeUndefined();
      expect(response.headers['etag']).toBe('W/"v1"');
    }
  });

  it('handles encoded HEAD, 204 and 304 responses, which have no body, even with a Content-Length', async () => {
    const up = await upstream((req, res) => {
      res.writeHead(req.method === 'HEAD' ? 200 : Number(req.url!.slice(1)), { 'content-encoding': 'gzip', 'content-length': '99' });
      res.end();
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`);
    for (const [method, path] of [['HEAD', '/200'], ['GET', '/304'], ['GET', '/204']] as const) {
      const response = await f.forward(input({ method, path }));
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.headers['content-length']).toBeUndefined();
      expect(await text(response.body)).toBe('');
    }
  });

  it('relays a 304 with the Content-Length of the representation (RFC 9110 §8.6)', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(304, { 'content-length': '1234', etag: '"v1"' });
      res.end();
    });
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input());
    expect(response.statusCode).toBe(304);
    expect(response.headers['etag']).toBe('"v1"');
    expect(await text(response.body)).toBe('');
  });

  it('refuses to relay a coding it cannot decode', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'zstd' });
      res.end('opaque bytes');
    });
    const error = await rejection(forwarder(`http://127.0.0.1:${up.port}`).forward(input()));
    expectGatewayError(error, 'upstream_unavailable', up.port);
  });

  it('cuts the body when the encoded stream is corrupt', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(Buffer.from('not gzip at all'));
    });
    const response = await forwarder(`http://127.0.0.1:${up.port}`).forward(input());
    await expect(text(response.body)).rejects.toThrow();
  });

  it('offers the upstream only the codings it can decode', async () => {
    const seen: (string | undefined)[] = [];
    const up = await upstream((req, res) => {
      seen.push(req.headers['accept-encoding']);
      res.end();
    });
    const f = forwarder(`http://127.0.0.1:${up.port}`);
    for (const value of ['gzip, deflate, br, zstd', 'zstd, *;q=0.1', 'br;q=1.0, gzip;q=0.8, compress', undefined]) {
      const headers: Record<string, string> = value === undefined ? {} : { 'accept-encoding': value };
      await text((await f.forward(input({ headers }))).body);
    }
    expect(seen).toEqual(['gzip, deflate, br', 'identity', 'br;q=1.0, gzip;q=0.8', undefined]);
  });
});

/** `promise`, or a failure naming `what` after 3 s (a deadlock must fail, not hang the suite). */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), 3000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe('Forwarder: body timeout, and event streams (SPEC §10)', () => {
  // Real time, kept short: the configured pause is 200 ms and the upstream stays quiet 3× that.
  const bodyTimeout = 200;
  const quiet = 3 * bodyTimeout;

  function shortBodyTimeout(port: number): Forwarder {
    const f = new Forwarder({ name: 'test', url: `http://127.0.0.1:${port}`, timeout: 5_000, assertion: false }, { bodyTimeout });
    cleanups.push(() => f.close());
    return f;
  }

  it('cuts a response body that pauses for longer than bodyTimeout', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      setTimeout(() => res.end('rest'), quiet).unref();
    });
    const response = await shortBodyTimeout(up.port).forward(input());
    await expect(text(response.body)).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
  });

  it('cuts a small body of declared length that stalls, as upstream_unavailable', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '20' });
      res.write('{"partial":');
    });
    await expect(shortBodyTimeout(up.port).forward(input())).rejects.toMatchObject({ code: 'upstream_unavailable' });
  });

  it('does not count a pause the reader caused (a slow client is not a stalled upstream)', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(body);
    });
    const response = await shortBodyTimeout(up.port).forward(input());
    await new Promise((resolve) => setTimeout(resolve, quiet));
    expect((await text(response.body)).length).toBe(body.length);
  });

  it('never cuts an event stream for being quiet, once its headers have arrived', async () => {
    // No sleep: the stream stays quiet until a plain response, started after it on the same
    // forwarder and just as quiet, has been cut for its pause — the timeout has passed for both.
    let speak!: () => void;
    const spoken = new Promise<void>((resolve) => (speak = resolve));
    const up = await upstream(async (req, res) => {
      if (req.url === '/plain') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.write(': open\n\n');
      await spoken;
      res.end('data: after a quiet spell\n\n');
    });
    const f = shortBodyTimeout(up.port);
    const events = streamed((await f.forward(input({ path: '/events' }))).body)[Symbol.asyncIterator]();
    expect(String((await events.next()).value)).toBe(': open\n\n');
    const plain = await f.forward(input({ path: '/plain' }));
    await expect(text(plain.body)).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    speak();
    expect(String((await events.next()).value)).toBe('data: after a quiet spell\n\n');
    expect((await events.next()).done).toBe(true);
  });

  it('streams an event stream of declared length instead of collecting it whole', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const events = ['data: one\n\n', 'data: two\n\n'];
    const up = await upstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': String(events.join('').length) });
      res.write(events[0]);
      await released;
      res.end(events[1]);
    });
    // Collected whole, the response would never resolve: the upstream waits for the first event to arrive.
    const response = await within(forwarder(`http://127.0.0.1:${up.port}`).forward(input()), 'the response was held for its whole body');
    const iterator = streamed(response.body)[Symbol.asyncIterator]();
    expect(String((await iterator.next()).value)).toBe(events[0]);
    release();
    expect(String((await iterator.next()).value)).toBe(events[1]);
  });
});
