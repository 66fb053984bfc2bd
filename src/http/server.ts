import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors/gateway-error.js';
import { StoreUnavailableError } from '../storage/store-unavailable-error.js';
import { answerClientError, writeRawError } from './client-error.js';
import type { RequestContext } from './context.js';
import type { Endpoint } from './endpoint.js';
import { outcomeHeaders, stages } from './pipeline.js';
import type { Runtime } from './runtime.js';

/**
 * Connections the kernel may queue before they are accepted. Node's default (511) overflowed under
 * a burst of 1,000 clients (docs/performance.md), and an overflowed client waits for a SYN
 * retransmission (1 s, then 3 s). The kernel caps it at net.core.somaxconn.
 */
const listenBacklog = 4096;
/** Retry-After of a 503 store_unavailable: a restart or failover of the store takes seconds. */
const storeRetryAfterSeconds = 5;

/** SPEC §4.4: request line and headers together over 16 KB → 431 (enforced by Node's parser). */
const maxHeaderSize = 16 * 1024;

/**
 * `server.tls` (SPEC §3: TLS 1.2+ only). For TLS 1.2, ECDHE key exchange with AEAD ciphers only:
 * Mozilla's "intermediate" list without DHE (which would need our own DH parameters). That keeps
 * forward secrecy and drops CBC (Lucky13 and the padding oracles), static RSA key exchange (ROBOT)
 * and SHA-1 MACs. The server's preference decides (testssl.sh rates "no server cipher order" HIGH),
 * so a client offering a weak-but-allowed order still gets AES-GCM or ChaCha20 first. TLS 1.3's
 * suites are all AEAD; they are listed so the string states everything that can be negotiated.
 */
const serverTls = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;

/** Runs one request through the pipeline and its endpoint; never lets an exception escape. */
export async function handleRequest(req: IncomingMessage, res: ServerResponse, rt: Runtime): Promise<void> {
  const ctx = newContext(req, res, rt, null);
  res.on('close', () => closed(ctx, rt));
  await run(ctx, rt, (endpoint) => {
    if (!endpoint.writesRequestId) res.setHeader('x-request-id', ctx.requestId);
    return endpoint.handle(ctx);
  });
}

/**
 * Runs an upgrade request through the same stages as any request (SPEC §10). Its response is
 * written onto the raw connection, so every refusal is the normal status and JSON body, after
 * which the connection is closed; a WebSocket endpoint answers the handshake itself.
 */
export async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, rt: Runtime): Promise<void> {
  // Node took its listeners off the upgraded socket: without one, a reset would crash the process.
  socket.on('error', () => socket.destroy());
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.on('finish', () => socket.end());
  const ctx = newContext(req, res, rt, { socket, head });
  res.on('close', () => closed(ctx, rt));
  await run(ctx, rt, async (endpoint) => {
    await endpoint.websocket!(ctx);
    // Answered with 101 by the endpoint, which took the socket over.
    if (!res.headersSent) {
      res.statusCode = 101;
      logAccess(ctx, rt);
    }
  });
}

function newContext(req: IncomingMessage, res: ServerResponse, rt: Runtime, upgrade: RequestContext['upgrade']): RequestContext {
  return {
    req, res,
    requestId: rt.requestIds(),
    startedAt: performance.now(),
    ip: '',
    method: req.method ?? 'GET',
    path: '',
    query: '',
    endpoint: null,
    live: null,
    staleCookie: false,
    clientGone: null,
    upgrade,
  };
}

async function run(ctx: RequestContext, rt: Runtime, serve: (endpoint: Endpoint) => Promise<void>): Promise<void> {
  const { res, requestId } = ctx;
  try {
    for (const stage of stages) {
      let outcome = stage.run(ctx, rt);
      if (outcome instanceof Promise) outcome = await outcome;
      if (outcome === 'answered') return;
      if (outcome) {
        refuse(ctx, rt, outcome);
        return;
      }
    }
    await serve(ctx.endpoint!);
  } catch (error) {
    if (error instanceof GatewayError) {
      refuse(ctx, rt, error);
      return;
    }
    if (isClientGone(error, res)) return;
    if (error instanceof StoreUnavailableError) {
      rt.logger.warn({ requestId, err: { type: error.name, code: error.reason } }, 'store unavailable');
      rt.respond.error(res, new GatewayError('store_unavailable', { headers: { 'retry-after': String(storeRetryAfterSeconds) } }), outcomeHeaders(ctx, rt));
      return;
    }
    rt.logger.error({ requestId, err: describe(error) }, 'request failed');
    rt.respond.error(res, new GatewayError('internal_error'), { 'x-request-id': requestId });
  }
}

/** Every refusal is answered here, so it is counted here (SPEC §11: CSRF rejections, IP blocks). */
function refuse(ctx: RequestContext, rt: Runtime, error: GatewayError): void {
  rt.metrics?.refused(error.code);
  rt.respond.error(ctx.res, error, outcomeHeaders(ctx, rt));
}

function isClientGone(error: unknown, res: ServerResponse): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return res.destroyed && (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR');
}

/** Error details safe for a log line: a class, a code and a message, never request data. */
export function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  return { type: error.name, code: (error as NodeJS.ErrnoException).code, message: error.message, stack: error.stack };
}

/** The response is over, sent or not: an unfinished one means the client went away. */
function closed(ctx: RequestContext, rt: Runtime): void {
  if (!ctx.res.writableFinished) ctx.clientGone?.cancel();
  logAccess(ctx, rt);
}

/**
 * One line per request. The path is logged without its query string: a query can carry a token
 * (SPEC: never a secret in a URL that reaches a log).
 */
function logAccess(ctx: RequestContext, rt: Runtime): void {
  rt.metrics?.requestEnded(ctx.endpoint?.id, ctx.method, ctx.res.statusCode, (performance.now() - ctx.startedAt) / 1000, rt.config.routes);
  rt.accessLog.info({
    requestId: ctx.requestId,
    method: ctx.method,
    path: ctx.path || undefined,
    status: ctx.res.statusCode,
    ms: Math.round((performance.now() - ctx.startedAt) * 10) / 10,
    ip: ctx.ip,
    user: ctx.live?.user.name,
    endpoint: ctx.endpoint?.id,
    aborted: !ctx.res.writableFinished || undefined,
  }, 'request');
}

/**
 * The requests each connection has in flight, counted by the gateway itself (not read from Node's
 * private socket fields): from the request event until its response has closed.
 */
class SocketRequests {
  readonly #counts = new WeakMap<Duplex, { open: number; idle: Array<() => void> }>();

  started(socket: Duplex): void {
    const entry = this.#counts.get(socket);
    if (entry) entry.open++;
    else this.#counts.set(socket, { open: 1, idle: [] });
  }

  finished(socket: Duplex): void {
    const entry = this.#counts.get(socket);
    if (!entry || --entry.open > 0) return;
    const waiting = entry.idle;
    if (waiting.length === 0) return;
    entry.idle = [];
    for (const run of waiting) run();
  }

  /** Runs `run` now if the socket has no request in flight, else once the last one is answered. */
  whenIdle(socket: Duplex, run: () => void): void {
    const entry = this.#counts.get(socket);
    if (!entry || entry.open === 0) run();
    else entry.idle.push(run);
  }
}

export interface ListeningServer {
  server: Server;
  port: number;
  /**
   * Stops accepting connections and upgrades, then resolves once every in-flight HTTP request but
   * `longLived()` of them (event streams, which end only when closed) has finished, or after `graceMs`.
   */
  drain(longLived?: () => number, graceMs?: number): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates the HTTP(S) listener for a runtime and starts listening. `current` is the runtime a new
 * request or upgrade is answered with (SIGHUP swaps it, app/reload.ts): each takes it once, at its
 * start, and keeps it to the end; `rt` fixes what cannot change while running (address, TLS).
 */
export async function listen(rt: Runtime, current: () => Runtime = () => rt): Promise<ListeningServer> {
  const options: ServerOptions = {
    maxHeaderSize,
    // Never relax llhttp: the lenient parser is what request smuggling exploits (CVE-2022-32215).
    insecureHTTPParser: false,
    requireHostHeader: true,
    headersTimeout: 20_000,
    requestTimeout: 120_000,
    keepAliveTimeout: 5_000,
  };
  const tls = rt.config.server.tls;
  let inFlight = 0;
  let stopping = false;
  const answering = new SocketRequests();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++;
    const socket = req.socket;
    const now = current();
    now.inFlight?.enter();
    answering.started(socket);
    // 'close' follows 'finish' (or comes alone when the client went away), by then the response
    // has let go of the socket, which may carry the next answer.
    res.once('close', () => {
      inFlight--;
      answering.finished(socket);
      now.inFlight?.leave();
    });
    void handleRequest(req, res, now);
  };
  const server: Server = tls
    ? createHttpsServer({ ...options, ...serverTls, cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler) as unknown as Server
    : createHttpServer(options, handler);

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    answerClientError(error, socket, rt.requestIds(), rt.respond.base);
  });
  // CONNECT never reaches the request handler in Node; answer it here (SPEC §4.4: 405).
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    writeRawError(socket, 'method_not_allowed', rt.requestIds(), rt.respond.base);
  });
  // SPEC §10: WebSockets on `websocket: true` routes, after the checks of any request; every other upgrade is refused.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const upgrade = (): void => {
      // The client went away while an earlier response was being answered.
      if (socket.destroyed) return;
      // Stopping: a socket opened now would only be closed again with 1001 (SPEC §10).
      if (stopping) writeRawError(socket as Socket, 'not_ready', rt.requestIds(), rt.respond.base);
      else {
        const now = current();
        now.inFlight?.enter();
        handleUpgrade(req, socket, head, now).catch((error: unknown) => {
          // Not silent: an upgrade that fails outside the pipeline's own answers is a bug to see.
          now.logger.error({ err: describe(error) }, 'WebSocket upgrade failed');
          socket.destroy();
        }).finally(() => now.inFlight?.leave());
      }
    };
    // An upgrade pipelined behind requests still being answered (RFC 9112 §9.3.2) waits for those
    // responses: its socket cannot carry two at once, and answering now would throw.
    answering.whenIdle(socket, upgrade);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: rt.config.server.port, host: rt.config.server.host, backlog: listenBacklog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : rt.config.server.port;

  let gone: Promise<void> | null = null;
  // Closes the port; what it resolves (every connection gone, upgraded ones too) is close()'s to wait for.
  const stopAccepting = (): Promise<void> => {
    stopping = true;
    gone ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return gone;
  };
  return {
    server,
    port,
    drain: (longLived = () => 0, graceMs = 10_000) => new Promise<void>((resolve) => {
      void stopAccepting();
      const done = (): void => {
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      };
      const check = (): void => {
        // Keep-alive connections whose response has ended would otherwise keep sending requests.
        server.closeIdleConnections();
        if (inFlight - longLived() <= 0) done();
      };
      const poll = setInterval(check, 20);
      const timer = setTimeout(done, graceMs);
      timer.unref();
      check();
    }),
    close: (graceMs = 10_000) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      // A keep-alive connection becomes idle when its in-flight response ends; close it then rather
      // than waiting for the client to hang up.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      timer.unref();
      void stopAccepting().then(() => {
        clearTimeout(timer);
        clearInterval(sweep);
        resolve();
      });
      server.closeIdleConnections();
    }),
  };
}
