import { connect } from 'node:net';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): any;
  /** The session cookie value set by this response, if any (null when it clears the cookie). */
  cookie: string | null | undefined;
  setCookie: string[];
}

export interface Call {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: unknown;
  /** Session cookie value to send as `gatehouse=<value>`. */
  session?: string;
  /** Send `X-CSRF: 1` (default true). */
  csrf?: boolean;
  /** e.g. `fromAddress('127.0.0.2')`, to be another client. */
  dispatcher?: Dispatcher;
}

/** A client whose sockets come from another loopback address (127.0.0.0/8 is all ours). */
export function fromAddress(localAddress: string): Agent {
  return new Agent({ localAddress });
}

/** One HTTP request with undici (the client is not under test; it never follows redirects). */
export async function call(base: string, path: string, options: Call = {}): Promise<Reply> {
  const headers: Record<string, string | string[]> = { ...options.headers };
  if (options.csrf !== false) headers['x-csrf'] = '1';
  if (options.session !== undefined) headers.cookie = `gatehouse=${options.session}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await undiciRequest(`${base}${path}`, { method: (options.method ?? 'GET') as 'GET', headers, body, ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}) });
  const text = await res.body.text();
  const raw = res.headers['set-cookie'];
  const setCookie = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const ours = setCookie.find((c) => c.startsWith('gatehouse=') || c.startsWith('__Host-gatehouse='));
  let cookie: string | null | undefined;
  if (ours) {
    const value = ours.slice(ours.indexOf('=') + 1, ours.indexOf(';'));
    cookie = value === '' ? null : value;
  }
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text), cookie, setCookie };
}

export async function login(base: string, username = 'alice', password = 'correct horse battery staple', dispatcher?: Dispatcher): Promise<string> {
  const reply = await call(base, '/auth/login', { method: 'POST', body: { username, password }, ...(dispatcher ? { dispatcher } : {}) });
  if (reply.status !== 200 || !reply.cookie) throw new Error(`login failed with ${reply.status}: ${reply.text}`);
  return reply.cookie;
}

/** Writes raw bytes to the gateway and returns everything it answers until it closes (or timeout). */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(data);
  });
}

/**
 * One request over a connection of its own, closed after: with `server.workers`, node:cluster hands
 * each connection to the workers in turn, so a series of these reaches every worker.
 */
export async function callOnFreshConnection(base: string, path: string, options: Call = {}): Promise<Reply> {
  const agent = new Agent({ pipelining: 0 });
  try {
    return await call(base, path, { ...options, dispatcher: agent });
  } finally {
    await agent.close();
  }
}
