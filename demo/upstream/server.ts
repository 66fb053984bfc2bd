import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createVerifier, nodeMiddleware, type GatehouseRequest, type NodeGuard, type Verifier } from '@gatehouse/verify';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The demo upstream: a tiny weather-and-notes REST API that, like the APIs Gatehouse exists to
 * protect, answers only callers presenting its secret bearer token. Gatehouse holds that token;
 * the browser never sees it. With `assertion` it also demands Gatehouse's signed
 * `Gatehouse-Assertion` (SPEC §7, @gatehouse/verify), so even the right token, leaked and sent
 * directly, is refused.
 */

export interface DemoUpstreamOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The bearer token every request must carry. */
  token: string;
  /** Also require a valid `Gatehouse-Assertion` from this gateway (SPEC §7). */
  assertion?: DemoAssertionOptions;
  /**
   * Answer `GET /v1/me`: it takes a user's access token from this OpenID provider instead of the
   * static token, and says whose it is (Gatehouse's `credential: { type: user-token }`, SPEC §9).
   */
  userTokens?: { issuer: string };
}

export interface DemoAssertionOptions {
  /** The gateway's JWKS, e.g. http://127.0.0.1:8080/.well-known/jwks.json */
  jwksUrl: string;
  /** The gateway's `server.publicOrigin`. */
  issuer: string;
  /** This upstream's `url` origin in the gateway's config; default the address it listens on. */
  audience?: string;
}

export interface DemoUpstream {
  /** e.g. http://127.0.0.1:9000 */
  url: string;
  /** WebSocket handshakes that reached `GET /v1/live`, accepted or refused, since the start. */
  liveHandshakes(): number;
  close(): Promise<void>;
}

/** Headers `GET /v1/whoami` reports back: what Gatehouse forwarded about the original request. */
const reportedHeaders = /^(x-forwarded-[a-z-]+|x-request-id)$/;
const maxBodyBytes = 64 * 1024;
/** The one route that takes a user's own token, never the static one. */
const userTokenPath = '/v1/me';
/** The live feed: a WebSocket that sends a weather reading every `liveIntervalMs`. */
const livePath = '/v1/live';
const liveIntervalMs = 1_000;

/** Each condition with the range its chance of rain falls in (percent). */
const conditions: readonly (readonly [string, number, number])[] = [
  ['sunny', 0, 10], ['partly cloudy', 10, 20], ['cloudy', 20, 40], ['windy', 10, 30], ['light rain', 50, 70], ['showers', 60, 90],
];

export async function startDemoUpstream(options: DemoUpstreamOptions): Promise<DemoUpstream> {
  if (options.token.length === 0) throw new Error('the demo upstream needs a non-empty token');
  // Compare SHA-256 digests: equal lengths for timingSafeEqual, and nothing about the token's
  // length or prefix leaks through timing (OWASP Authentication Cheat Sheet).
  const expected = digest(options.token);
  // Built once the port is known: by default the audience is the address the gateway calls.
  let guard: NodeGuard | undefined;
  let verifier: Verifier | undefined;
  const owner = options.userTokens ? tokenOwner(options.userTokens.issuer) : undefined;

  const server = createServer((req, res) => {
    handle(req, res, expected, guard, owner).catch(() => {
      if (!res.headersSent) send(res, 500, { error: { code: 'internal_error', message: 'Something went wrong.' } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const live = liveFeed();
  let liveHandshakes = 0;
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    liveHandshakes++;
    live.upgrade(req, socket, head, expected, verifier).catch(() => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  if (options.assertion) {
    const { jwksUrl, issuer, audience = url } = options.assertion;
    verifier = createVerifier({ jwksUrl, issuer, audience });
    guard = nodeMiddleware(verifier);
  }
  return {
    url,
    liveHandshakes: () => liveHandshakes,
    close: () => new Promise<void>((resolve, reject) => {
      live.close();
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeIdleConnections();
    }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, expected: Buffer, guard: NodeGuard | undefined, owner: TokenOwner | undefined): Promise<void> {
  if (owner && new URL(req.url ?? '/', 'http://upstream.invalid').pathname === userTokenPath) {
    await answerTokenOwner(req, res, guard, owner);
    return;
  }
  if (!authorized(req.headers.authorization, expected)) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="demo-upstream"');
    send(res, 401, { error: { code: 'unauthorized', message: 'A valid bearer token is required.' } });
    return;
  }
  // The token alone proves only that the caller has it; the assertion, that Gatehouse sent THIS
  // request just now. The guard answers a refusal itself (401, or 503 without the gateway's keys).
  if (guard && !(await guard(req, res))) return;

  const path = new URL(req.url ?? '/', 'http://upstream.invalid').pathname;
  const method = req.method ?? 'GET';
  const route = routes[path];
  if (!route) {
    send(res, 404, { error: { code: 'not_found', message: 'No such endpoint.' } });
    return;
  }
  const handler = route[method] ?? (method === 'HEAD' ? route.GET : undefined);
  if (!handler) {
    res.setHeader('Allow', Object.keys(route).join(', '));
    send(res, 405, { error: { code: 'method_not_allowed', message: 'This method is not allowed here.' } });
    return;
  }
  await handler(req, res);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const routes: Record<string, Record<string, Handler>> = {
  '/v1/today': {
    GET: (_req, res) => send(res, 200, { location: 'Harbourtown', ...day(new Date(), 0) }),
  },
  '/v1/forecast': {
    GET: (_req, res) => {
      const now = new Date();
      send(res, 200, { location: 'Harbourtown', days: [1, 2, 3, 4, 5].map((offset) => day(now, offset)) });
    },
  },
  '/v1/notes': {
    POST: async (req, res) => {
      const body = await readJson(req);
      const text = isRecord(body) && typeof body.text === 'string' ? body.text.trim() : '';
      if (text.length === 0 || text.length > 500) {
        send(res, 400, { error: { code: 'bad_request', message: 'Send {"text": "…"} with 1 to 500 characters.' } });
        return;
      }
      send(res, 201, { note: { id: randomUUID(), text, createdAt: new Date().toISOString() } });
    },
  },
  '/v1/whoami': {
    GET: (req, res) => {
      const received: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (reportedHeaders.test(name) && typeof value === 'string') received[name] = value;
      }
      // Only proof that the token matched, never the token or the Authorization header itself;
      // and, behind assertions, who Gatehouse says is asking (never the assertion itself).
      const claims = (req as GatehouseRequest).gatehouse;
      send(res, 200, { authenticated: true, headers: received, ...(claims && { assertion: { issuer: claims.iss, user: claims.sub ?? null, session: claims.sid ?? null } }) });
    },
  },
};

interface LiveFeed {
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, expected: Buffer, verifier: Verifier | undefined): Promise<void>;
  close(): void;
}

/**
 * `GET /v1/live` as a WebSocket: one reading of the current weather a second, as JSON. The
 * handshake needs the bearer token (and the assertion) like any request, so only Gatehouse can
 * open it; the browser's socket is Gatehouse's relay of this one.
 */
function liveFeed(): LiveFeed {
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: 4 * 1024 });
  const refuse = (socket: Socket, status: number, reason: string): void => {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  return {
    async upgrade(req, socket, head, expected, verifier) {
      socket.on('error', () => socket.destroy());
      if (!authorized(req.headers.authorization, expected)) return refuse(socket, 401, 'Unauthorized');
      if (verifier && !(await verifier.verify({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })).ok) return refuse(socket, 401, 'Unauthorized');
      if (new URL(req.url ?? '/', 'http://upstream.invalid').pathname !== livePath) return refuse(socket, 404, 'Not Found');
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        let sequence = 0;
        const send = (): void => {
          sequence++;
          ws.send(JSON.stringify({ type: 'reading', sequence, ...reading(new Date()) }));
        };
        send();
        const timer = setInterval(send, liveIntervalMs);
        ws.on('close', () => {
          clearInterval(timer);
          sockets.delete(ws);
        });
        ws.on('error', () => ws.terminate());
      });
    },
    close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
    },
  };
}

/** Today's weather with a little second-by-second jitter, deterministic per second. */
function reading(now: Date): { at: string; location: string; temperatureC: number; windKph: number } {
  const today = day(now, 0);
  const second = now.toISOString().slice(0, 19);
  const noise = (n: number): number => digest(`${second}:${n}`).readUInt32BE(0) / 2 ** 32;
  const fraction = (now.getUTCHours() * 60 + now.getUTCMinutes()) / 1440;
  // Warmest mid-afternoon, coldest before dawn.
  const daily = (1 - Math.cos(((fraction - 0.125) * 2 * Math.PI))) / 2;
  const temperature = today.temperatureC.low + daily * (today.temperatureC.high - today.temperatureC.low) + (noise(1) - 0.5) * 0.4;
  return {
    at: now.toISOString(),
    location: 'Harbourtown',
    temperatureC: Math.round(temperature * 10) / 10,
    windKph: Math.max(0, Math.round(today.windKph + (noise(2) - 0.5) * 8)),
  };
}

/** The claims the provider's userinfo endpoint answers for an access token; null when it refuses the token. */
type TokenOwner = (token: string) => Promise<Record<string, unknown> | null>;

/**
 * Asks the provider who an access token belongs to (OpenID Connect Core §5.3 userinfo): only a
 * token the provider itself issued, still valid, gets an answer, so a forged, expired or revoked
 * one is refused, and so is the static upstream token.
 */
function tokenOwner(issuer: string): TokenOwner {
  let endpoint: Promise<string> | undefined;
  const discover = async (): Promise<string> => {
    const response = await fetch(new URL('.well-known/openid-configuration', issuer.endsWith('/') ? issuer : `${issuer}/`), { signal: AbortSignal.timeout(5_000) });
    const metadata = (await response.json()) as { issuer?: unknown; userinfo_endpoint?: unknown };
    if (!response.ok || metadata.issuer !== issuer || typeof metadata.userinfo_endpoint !== 'string') throw new Error('the provider has no usable discovery document');
    return metadata.userinfo_endpoint;
  };
  return async (token) => {
    endpoint ??= discover().catch((error: unknown) => {
      endpoint = undefined;
      throw error;
    });
    const response = await fetch(await endpoint, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: AbortSignal.timeout(5_000) });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) throw new Error(`userinfo answered ${response.status}`);
    const claims = (await response.json()) as unknown;
    return isRecord(claims) && typeof claims.sub === 'string' ? claims : null;
  };
}

async function answerTokenOwner(req: IncomingMessage, res: ServerResponse, guard: NodeGuard | undefined, owner: TokenOwner): Promise<void> {
  const token = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.headers.authorization ?? '')?.[1];
  let claims: Record<string, unknown> | null = null;
  if (token) {
    try {
      claims = await owner(token);
    } catch {
      send(res, 503, { error: { code: 'provider_unavailable', message: 'The identity provider could not be asked about the token.' } });
      return;
    }
  }
  if (!claims) {
    // RFC 6750 §3: a missing token gets the bare challenge, a refused one error="invalid_token".
    res.setHeader('WWW-Authenticate', token ? 'Bearer realm="demo-upstream", error="invalid_token"' : 'Bearer realm="demo-upstream"');
    send(res, 401, { error: { code: 'invalid_token', message: 'A valid access token from the identity provider is required.' } });
    return;
  }
  if (guard && !(await guard(req, res))) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET');
    send(res, 405, { error: { code: 'method_not_allowed', message: 'This method is not allowed here.' } });
    return;
  }
  // Whose token this is, as the provider says; never the token itself.
  const text = (key: string): string | null => (typeof claims[key] === 'string' ? claims[key] : null);
  const gatehouse = (req as GatehouseRequest).gatehouse;
  send(res, 200, {
    tokenOwner: { sub: text('sub'), name: text('name'), username: text('preferred_username'), email: text('email') },
    ...(gatehouse && { assertion: { issuer: gatehouse.iss, user: gatehouse.sub ?? null, session: gatehouse.sid ?? null } }),
  });
}

function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  const presented = digest(match?.[1] ?? '');
  // Always compare, even without a token, so both paths take the same time.
  return timingSafeEqual(presented, expected) && match !== null;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Deterministic weather for a date, so every reload of the same day shows the same numbers. */
function day(base: Date, offset: number): { date: string; condition: string; temperatureC: { low: number; high: number }; windKph: number; precipitationChance: number } {
  const date = new Date(Date.UTC(base.getUTCFullYear(), base.getUTCMonth(), base.getUTCDate() + offset));
  const iso = date.toISOString().slice(0, 10);
  const noise = (n: number): number => digest(`${iso}:${n}`).readUInt32BE(0) / 2 ** 32;
  const seasonal = 12 - 9 * Math.cos(((date.getUTCMonth() + 0.5) / 12) * 2 * Math.PI);
  const high = Math.round(seasonal + 4 + noise(1) * 6);
  const [condition, rainLow, rainHigh] = conditions[Math.floor(noise(2) * conditions.length)] ?? ['sunny', 0, 10];
  return {
    date: iso,
    condition,
    temperatureC: { low: high - 5 - Math.round(noise(3) * 4), high },
    windKph: Math.round((condition === 'windy' ? 35 : 5) + noise(4) * 20),
    precipitationChance: Math.round((rainLow + noise(5) * (rainHigh - rainLow)) / 10) * 10,
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Drain the whole body even when it is too large, so the response can still be written.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maxBodyBytes) chunks.push(chunk);
  }
  if (size > maxBodyBytes) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
