import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from 'ws';

export interface SeenHandshake {
  url: string;
  headers: IncomingHttpHeaders;
}

export type SocketBehaviour = (socket: WebSocket, handshake: SeenHandshake) => void;

/** A real WebSocket upstream on 127.0.0.1 (ws): echoes every message by default, records handshakes. */
export interface TestWebSocketUpstream {
  url: string;
  handshakes: SeenHandshake[];
  /** TCP connections accepted, handshake or not: 0 proves nothing reached the upstream. */
  readonly connections: number;
  sockets: WebSocket[];
  behave(behaviour: SocketBehaviour | null): void;
  reset(): void;
  close(): Promise<void>;
}

export const echo: SocketBehaviour = (socket) => {
  socket.on('message', (data: RawData, isBinary: boolean) => socket.send(data as Buffer, { binary: isBinary }));
};

export async function startWebSocketUpstream(): Promise<TestWebSocketUpstream> {
  const handshakes: SeenHandshake[] = [];
  const sockets: WebSocket[] = [];
  let connections = 0;
  let behaviour: SocketBehaviour | null = null;
  const server: Server = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  server.on('connection', () => {
    connections++;
  });
  const wss = new WebSocketServer({
    server,
    maxPayload: 64 * 1024 * 1024,
    // Offered compression is taken, as many servers do: an extension the gateway's client did not offer must not reach it.
    perMessageDeflate: true,
    handleProtocols: (offered) => [...offered][0] ?? false,
    // A path under /refuse is answered 403 instead of 101.
    verifyClient: (info: { req: { url?: string } }) => !(info.req.url ?? '').startsWith('/refuse'),
  });
  wss.on('connection', (socket, req) => {
    const handshake = { url: req.url ?? '', headers: req.headers };
    handshakes.push(handshake);
    sockets.push(socket);
    socket.on('error', () => undefined);
    (behaviour ?? echo)(socket, handshake);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    handshakes,
    get connections() {
      return connections;
    },
    sockets,
    behave: (b) => {
      behaviour = b;
    },
    reset: () => {
      behaviour = null;
      handshakes.length = 0;
      for (const socket of sockets.splice(0)) socket.terminate();
      connections = 0;
    },
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export type Opened =
  | { kind: 'open'; socket: WebSocket; headers: IncomingHttpHeaders }
  | { kind: 'refused'; status: number; body: { error?: { code?: string } } | null; headers: IncomingHttpHeaders };

export interface OpenOptions extends ClientOptions {
  session?: string;
  protocols?: string[];
}

/** Opens a WebSocket to the gateway as a browser would (Origin = publicOrigin unless given); a refusal is its HTTP answer. */
export function openSocket(gatewayUrl: string, path: string, options: OpenOptions = {}): Promise<Opened> {
  const { session, protocols, headers, ...rest } = options;
  const url = `${gatewayUrl.replace(/^http/, 'ws')}${path}`;
  const socket = new WebSocket(url, protocols ?? [], {
    origin: 'http://localhost:8080',
    ...rest,
    headers: { ...headers, ...(session !== undefined ? { cookie: `gatehouse=${session}` } : {}) },
  });
  return new Promise((resolve, reject) => {
    socket.once('upgrade', (res) => {
      socket.once('open', () => resolve({ kind: 'open', socket, headers: res.headers }));
    });
    socket.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(chunks).toString('utf8');
        let body: { error?: { code?: string } } | null = null;
        try {
          body = JSON.parse(text) as { error?: { code?: string } };
        } catch {
          body = null;
        }
        resolve({ kind: 'refused', status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    socket.once('error', reject);
  });
}

export async function openOrFail(gatewayUrl: string, path: string, options: OpenOptions = {}): Promise<WebSocket> {
  const opened = await openSocket(gatewayUrl, path, options);
  if (opened.kind !== 'open') throw new Error(`the socket was refused: ${opened.status} ${JSON.stringify(opened.body)}`);
  opened.socket.on('error', () => undefined);
  return opened.socket;
}

/** The next message on a socket. */
export function nextMessage(socket: WebSocket, timeoutMs = 3000): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message arrived')), timeoutMs);
    socket.once('message', (data: RawData, isBinary: boolean) => {
      clearTimeout(timer);
      resolve({ data: data as Buffer, isBinary });
    });
  });
}

/** How a socket closed. */
export function closed(socket: WebSocket, timeoutMs = 3000): Promise<{ code: number; reason: string }> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the socket did not close')), timeoutMs);
    socket.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** The gateway's upstream entry `live` for a WebSocket upstream at `url`: the default bearer secret (`api-token`). */
export function liveUpstream(url: string): Record<string, unknown> {
  return { name: 'live', url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' };
}

export interface WebSocketUpstreamFixture {
  readonly upstream: TestWebSocketUpstream;
}

/**
 * Registers, in the calling file (or describe block), a WebSocket upstream started beforeAll and
 * closed afterAll; with `reset: true`, afterEach also ends its sockets and forgets what it saw.
 * Register it before `useGateway` when the gateway's options read its address (Vitest runs
 * beforeAll hooks in registration order), and read `.upstream` inside hooks and tests.
 */
export function useWebSocketUpstream(options: { reset?: boolean } = {}): WebSocketUpstreamFixture {
  let upstream: TestWebSocketUpstream | undefined;
  beforeAll(async () => {
    upstream = await startWebSocketUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });
  if (options.reset) {
    afterEach(() => {
      upstream?.reset();
    });
  }
  return {
    get upstream(): TestWebSocketUpstream {
      if (!upstream) throw new Error('useWebSocketUpstream: the upstream is read before beforeAll started it');
      return upstream;
    },
  };
}
