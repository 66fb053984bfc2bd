import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from 'ws';
import type { AuditLog } from '../audit/audit-log.js';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { RequestContext } from '../http/context.js';
import type { Logger } from '../log/logger.js';
import { errorFields } from '../log/error-fields.js';
import { withQueryCredential } from '../proxy/credential.js';
import { containsAny } from '../proxy/leak-guard.js';
import { credentialFor, type ProxyDeps } from '../proxy/proxy-endpoint.js';
import type { ReadyCredential } from '../proxy/upstream-credentials.js';
import { upstreamRequestHeaders } from '../proxy/request-headers.js';
import type { CompiledRoute } from '../routing/route-table.js';
import type { SessionRecord } from '../sessions/session-store.js';
import { assertionHeader, type UpstreamAssertion } from '../trust/assertion.js';
import type { OpenConnections } from './open-connections.js';
import type { SessionSocketSlots } from './session-socket-slots.js';
import { defaultHighWaterMark, defaultStallTimeoutMs, MessageFlow, type FlowLimits } from './relay-flow.js';

/** SPEC §10 `routes[].maxMessageSize` default. */
export const defaultMaxMessageSize = 1024 * 1024;
/**
 * How often the browser is pinged. Idle connections are cut by NATs and load balancers after
 * 60 s or more (AWS ALB's default idle timeout is 60 s); a ping every 30 s keeps them open, and a
 * client that has not answered the previous ping by the next is gone and is terminated.
 */
export const defaultPingIntervalMs = 30_000;
/** How long a closed socket's peer has to answer the close frame before the connection is dropped. */
export const closeHandshakeBoundMs = 1_500;

/** RFC 6455 §4.1: the handshake's key is 16 random bytes in base64; version 13 is the only one. */
const handshakeKey = /^[+/0-9A-Za-z]{22}==$/;

/**
 * Handshake headers that belong to one side of the relay: the upstream handshake gets its own key,
 * version and (none: compression is off) extensions from the ws client; the client's offered
 * subprotocols are passed as such.
 */
const ownHandshakeHeaders = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol'];

export interface WebSocketRelayDeps extends Pick<ProxyDeps, 'credentials' | 'logger' | 'exchanger'> {
  upstream: UpstreamConfig;
  connections: OpenConnections;
  /** SPEC §10's per-session limit, counted in the store across workers and nodes (decision 0015). */
  slots: SessionSocketSlots;
  audit: AuditLog;
  logger: Logger;
  publicOrigin: string;
  assertion: UpstreamAssertion | null;
  /** The upstream's CA and client certificate (mTLS), as for HTTP. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean } | undefined;
  /** A message from the browser is the session's activity (SPEC §10): session-service `touch`. */
  touch(session: SessionRecord): Promise<boolean> | null;
  pingIntervalMs?: number;
  /** Backpressure of the message relay (relay-flow.ts). */
  flow?: Partial<FlowLimits>;
}

/**
 * The `websocket` handler of a route with `websocket: true` (SPEC §10), run after every pipeline
 * stage passed. It connects to the upstream first — so an upstream that refuses is a plain 502 —
 * then answers the browser's handshake and relays messages both ways, whole (ws reassembles
 * fragments), under the route's message size limit and the leak guard.
 */
export function webSocketRelay(route: CompiledRoute, deps: WebSocketRelayDeps): (ctx: RequestContext) => Promise<void> {
  const maxPayload = route.config.maxMessageSize ?? defaultMaxMessageSize;
  const handshakes = new WeakMap<IncomingMessage, { protocol: string; requestId: string }>();
  // Compression is off both ways: a small compressed frame can inflate to a huge message
  // (decompression bombs) and compressing secrets next to attacker text leaks them (CRIME/BREACH).
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload,
    handleProtocols: (_offered, req) => handshakes.get(req)?.protocol || false,
  });
  // The 101 carries the request's id like every other answer (SPEC §4), the one the upstream got.
  server.on('headers', (headers, req) => {
    const handshake = handshakes.get(req);
    if (handshake) headers.push(`X-Request-Id: ${handshake.requestId}`);
  });
  const upstreamBase = webSocketBase(deps.upstream.url);
  const pingIntervalMs = deps.pingIntervalMs ?? defaultPingIntervalMs;
  const flowLimits: FlowLimits = {
    highWaterMark: deps.flow?.highWaterMark ?? defaultHighWaterMark,
    stallTimeoutMs: deps.flow?.stallTimeoutMs ?? defaultStallTimeoutMs,
  };

  return async (ctx) => {
    const { req } = ctx;
    const { socket, head } = ctx.upgrade!;
    const key = req.headers['sec-websocket-key'];
    if (ctx.method !== 'GET' || key === undefined || !handshakeKey.test(key) || req.headers['sec-websocket-version'] !== '13') {
      throw new GatewayError('bad_request', { message: 'The WebSocket handshake is not valid.' });
    }
    const live = ctx.live;
    // The slot is taken before the upstream is contacted, atomically in the store, so concurrent
    // handshakes on any worker or node cannot pass the limit together. A store that cannot answer
    // rejects (StoreUnavailableError: 503 like any stage's), never lets the socket through uncounted.
    const freeSlot = live ? await deps.slots.take(live.session.handle) : noSlot;
    if (freeSlot === null) throw new GatewayError('too_many_connections');

    let closeNow = (_code: number, _reason: string): void => {
      socket.destroy();
    };
    const unregisterHere = deps.connections.add({
      handle: live?.session.handle ?? '',
      user: live?.user.name ?? '',
      close: (code, reason) => closeNow(code, reason),
    });
    // Every exit path below calls this; both halves run once however often it is called.
    const unregister = (): void => {
      unregisterHere();
      freeSlot();
    };

    let upstream: WebSocket;
    let credential: ReadyCredential;
    try {
      credential = await credentialFor(ctx, route, deps);
      const path = route.upstreamPath(ctx.path);
      const headers: Record<string, string | string[]> = upstreamRequestHeaders(req.headers, {
        clientIp: ctx.ip,
        publicOrigin: deps.publicOrigin,
        requestId: ctx.requestId,
        credential,
      });
      for (const name of ownHandshakeHeaders) delete headers[name];
      if (deps.assertion) headers[assertionHeader] = await deps.assertion.sign({ method: 'GET', path, live });
      const query = credential.queryParam ? withQueryCredential(ctx.query, credential.queryParam) : ctx.query;
      const url = `${upstreamBase}${path}${query === '' ? '' : `?${query}`}`;
      upstream = await connect(url, offeredProtocols(req.headers['sec-websocket-protocol']), {
        // ws hands them to http.request, which sends a repeated header's array as repeated lines.
        headers: headers as Record<string, string>,
        maxPayload,
        perMessageDeflate: false,
        followRedirects: false,
        handshakeTimeout: deps.upstream.timeout,
        ...deps.tls,
      }, (error) => {
        deps.logger.warn({ requestId: ctx.requestId, upstream: route.config.upstream, cause: { code: error.code, message: error.message } }, 'upstream WebSocket handshake failed');
      });
    } catch (error) {
      unregister();
      throw error;
    }
    // Read alongside the upstream's handshake; it destroys the socket if the session ended meanwhile.
    await deps.connections.watched(live?.session.handle ?? '');
    if (socket.destroyed) {
      // The browser went away while the upstream answered, or its session ended.
      upstream.terminate();
      unregister();
      return;
    }

    handshakes.set(req, { protocol: upstream.protocol, requestId: ctx.requestId });
    ctx.res.detachSocket(socket as Socket);
    // ws answers a handshake it cannot accept with 400 and destroys the socket without calling back.
    const refused = (): void => {
      upstream.terminate();
      unregister();
    };
    socket.once('close', refused);
    server.handleUpgrade(req, socket, head, (client) => {
      socket.off('close', refused);
      relay(client, upstream);
    });

    function relay(client: WebSocket, upstreamSocket: WebSocket): void {
      let ended = false;
      let answered = true;
      const end = (toClient: Close, toUpstream: Close): void => {
        if (ended) return;
        ended = true;
        clearInterval(pinger);
        upward.stop();
        downward.stop();
        unregister();
        closeSide(client, toClient);
        closeSide(upstreamSocket, toUpstream);
        // A peer that never answers the close frame would hold its socket (and a stopping gateway)
        // for ws's 30 s: RFC 6455 §7.1.1 lets the server drop the TCP connection itself.
        setTimeout(() => {
          client.terminate();
          upstreamSocket.terminate();
        }, closeHandshakeBoundMs).unref();
      };
      closeNow = (code, reason) => end({ code, reason }, { code: 1001, reason: '' });

      // RFC 6455 §7.4.1 1013 "Try Again Later": the side that never took what was queued for it is
      // dropped for a temporary condition (the gateway's bound on what it holds), not for breaking a
      // policy (1008) — it may reconnect. It will likely never read the frame; the close bound ends it.
      const upward = new MessageFlow(client, upstreamSocket, upstreamWires.get(upstreamSocket) ?? null, flowLimits, () => {
        end({ code: 1013, reason: 'upstream too slow' }, { code: 1013, reason: '' });
      });
      const downward = new MessageFlow(upstreamSocket, client, socket, flowLimits, () => {
        end({ code: 1013, reason: '' }, { code: 1001, reason: '' });
      });

      let pausesAtPing = 0;
      const pinger = setInterval(() => {
        const pauses = upward.pauses + downward.pauses;
        if (upward.paused || downward.paused || pauses !== pausesAtPing) {
          // A pong cannot be seen while the browser is not read, nor sent before it has read what
          // was queued ahead of the ping: while the relay holds back, the stall bound watches it.
          pausesAtPing = pauses;
          answered = true;
          return;
        }
        if (!answered) {
          client.terminate();
          end(null, { code: 1001, reason: '' });
          return;
        }
        answered = false;
        client.ping();
      }, pingIntervalMs);
      pinger.unref();
      client.on('pong', () => {
        answered = true;
      });

      client.on('message', (data: RawData, isBinary: boolean) => {
        // A message proves the browser alive as well as a pong, which may be queued behind it.
        answered = true;
        // Messages of one read arrived together: the first of them records the activity for all
        // (one clock read per read, not per message). Its time is the earliest of theirs, so the
        // idle deadline can only come sooner, by the time one read takes to relay, never later.
        if (live && !upward.batching) {
          const writing = deps.touch(live.session);
          writing?.then((stillLive) => {
            if (!stillLive) end({ code: 4401, reason: 'session ended' }, { code: 1001, reason: '' });
          }, (error: unknown) => {
            deps.logger.warn({ requestId: ctx.requestId, err: errorFields(error) }, 'could not record WebSocket activity');
          });
        }
        upward.forward(data as Buffer, isBinary);
      });
      const patterns = credential.leakPatterns;
      upstreamSocket.on('message', (data: RawData, isBinary: boolean) => {
        if (patterns.length > 0 && containsAny(data as Buffer, patterns)) {
          deps.logger.warn({ requestId: ctx.requestId, upstream: route.config.upstream, where: 'websocket' }, 'upstream message contained a secret; withheld');
          deps.audit.recordInBackground('secret_leak_blocked', { user: live?.user.name ?? null, ip: ctx.ip, requestId: ctx.requestId }, { upstream: route.config.upstream, where: 'websocket' });
          end({ code: 1008, reason: 'upstream message withheld' }, { code: 1008, reason: '' });
          return;
        }
        downward.forward(data as Buffer, isBinary);
      });

      client.on('close', (code: number, reason: Buffer) => {
        // 1006: the browser vanished without a close frame.
        end(null, code === 1006 ? { code: 1001, reason: '' } : { code, reason: reason.toString() });
      });
      upstreamSocket.on('close', (code: number, reason: Buffer) => {
        // 1014 (RFC 6455 registry, "Bad Gateway"): the upstream ended without a close frame. A
        // reason that carries the secret is dropped like a message that does.
        const text = patterns.length > 0 && containsAny(reason, patterns) ? '' : reason.toString();
        end(code === 1006 ? { code: 1014, reason: '' } : { code, reason: text }, null);
      });
      client.on('error', (error: NodeJS.ErrnoException) => {
        // ws has already closed the browser's side with the matching code (1009 for a message over maxPayload).
        end(null, { code: protocolErrorCode(error), reason: '' });
      });
      upstreamSocket.on('error', (error: NodeJS.ErrnoException) => {
        end({ code: protocolErrorCode(error), reason: '' }, null);
      });
      // Held since its handshake (connect) so that nothing it sent first is lost.
      upstreamSocket.resume();
    }
  };
}

/** A socket on a public route has no session, so no slot. */
function noSlot(): void {}

/** How one side is closed: a code and reason to send, or null when that side already closed. */
type Close = { code: number; reason: string } | null;

function closeSide(socket: WebSocket, close: Close): void {
  if (close === null || socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
  // 1005 (no code) and the other reserved codes cannot be sent: close without one.
  if (isSendableCode(close.code)) socket.close(close.code, truncateReason(close.reason));
  else socket.close();
}

function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of them the code. */
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 123 ? reason : bytes.subarray(0, 123).toString('utf8').replace(/\uFFFD+$/, '');
}

/** The close code for the other side after a protocol error on one (ws's error codes). */
function protocolErrorCode(error: NodeJS.ErrnoException): number {
  if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 1009;
  if (error.code === 'WS_ERR_INVALID_UTF8') return 1007;
  return error.code?.startsWith('WS_ERR_') ? 1002 : 1001;
}

/** ws:// or wss:// for the upstream's http:// or https:// url, with its path, no trailing slash. */
function webSocketBase(url: string): string {
  const parsed = new URL(url);
  const scheme = parsed.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

function offeredProtocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

/** The upstream WebSocket's TCP (or TLS) connection, from its handshake response: the relay corks it. */
const upstreamWires = new WeakMap<WebSocket, Duplex>();

/** Opens the upstream's WebSocket; anything but a 101 is 502, a handshake timeout 504. */
function connect(url: string, protocols: string[], options: ClientOptions, failed: (error: NodeJS.ErrnoException) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const upstream = new WebSocket(url, protocols, options);
    const onError = (error: NodeJS.ErrnoException): void => {
      failed(error);
      reject(new GatewayError(/timed out/.test(error.message) ? 'upstream_timeout' : 'upstream_unavailable', { cause: error }));
    };
    upstream.once('error', onError);
    upstream.once('unexpected-response', (request, response) => {
      response.resume();
      request.destroy();
      upstream.off('error', onError);
      upstream.on('error', () => undefined);
      failed(Object.assign(new Error(`the upstream answered ${response.statusCode}`), { code: 'UNEXPECTED_RESPONSE' }));
      reject(new GatewayError('upstream_unavailable'));
    });
    upstream.once('upgrade', (response) => {
      upstreamWires.set(upstream, response.socket);
    });
    upstream.once('open', () => {
      // Paused until the browser's side is open and listening: a message the upstream sends right
      // after its 101 would otherwise be emitted before the relay is there to take it.
      upstream.pause();
      upstream.off('error', onError);
      upstream.on('error', () => undefined);
      resolve(upstream);
    });
  });
}
