import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { call, callOnFreshConnection, fromAddress, login, type Reply } from '../helpers/http.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { nextMessage, openOrFail, startWebSocketUpstream, type TestWebSocketUpstream } from '../helpers/websocket.js';
import { EventStreamClient } from '../helpers/event-stream.js';

/**
 * SIGHUP to a real `gatehouse serve` with `server.workers: 2` (SPEC §11): under a load that runs
 * throughout, a new file's routes, upstreams, rate rules and IP lists apply to new requests in
 * every worker within 1 s, and nothing in flight or open fails; a file that is invalid, or changes a
 * key that cannot change, leaves the running configuration and names each problem in the log.
 */

const password = 'a long enough password';
let dir: string;
let configFile: string;
let port: number;
let base: string;
let serve: ServeProcess;
let first: TestUpstream;
let second: TestUpstream;
let other: TestUpstream;
let live: TestWebSocketUpstream;
const streams: ServerResponse[] = [];

interface LogLine { pid?: number; msg?: string; key?: string; keys?: string[]; problem?: string; ms?: number; [key: string]: unknown }

function logLines(): LogLine[] {
  return serve.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

/** Each upstream says who it is, so a reply shows which configuration sent it there. */
function identify(upstream: TestUpstream, name: string): void {
  upstream.handle((req, res) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write('data: opened\n\n');
      streams.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ from: name, url: req.url }));
  });
}

interface Shape {
  port?: number;
  store?: string;
  apiUrl: string;
  routes: string[];
  limits?: string;
  deny?: string;
  static?: string;
  extraUpstream?: string;
}

function writeConfig(shape: Shape): void {
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${shape.port ?? port}, allowedHosts: [127.0.0.1], workers: 2 }`,
    `store: { sqlite: ${shape.store ?? './gatehouse.db'} }`,
    'masterKey: file:./master.key',
    'upstreams:',
    `  - { name: api, url: "${shape.apiUrl}", credential: { type: bearer, secret: api-token } }`,
    `  - { name: side, url: "${second.url}", credential: { type: bearer, secret: api-token } }`,
    `  - { name: live, url: "${live.url}", credential: { type: bearer, secret: api-token } }`,
    ...(shape.extraUpstream ? [`  - ${shape.extraUpstream}`] : []),
    'routes:',
    ...shape.routes.map((r) => `  - ${r}`),
    `limits: ${shape.limits ?? '[]'}`,
    `ipRules: { deny: [${shape.deny ?? ''}] }`,
    ...(shape.static ? [`static: ${shape.static}`] : []),
    'login: { maxFailures: 50, backoff: 1s, maxBackoff: 1m, perIp: { max: 500, per: 5m } }',
    '',
  ].join('\n'));
}

const eventsRoute = '{ path: /events, methods: [GET], upstream: api, csrf: false }';
const liveRoute = '{ path: /live, methods: [GET], upstream: live, websocket: true }';
const apiRoute = '{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }';
const before: Shape = {
  get apiUrl() { return first.url; },
  routes: [apiRoute, '{ path: /old/**, methods: [GET], upstream: side, stripPrefix: /old }', eventsRoute, liveRoute],
};
const after: Shape = {
  get apiUrl() { return other.url; },
  routes: [apiRoute, '{ path: /new/**, methods: [GET], upstream: side, stripPrefix: /new }', eventsRoute, liveRoute],
  limits: '[{ name: new-per-ip, match: /new/**, by: ip, max: 3, per: 1m, action: reject }]',
  deny: '127.0.0.2/32',
  static: './site',
};

/** Sends SIGHUP and waits for both workers' outcome line; returns the ms from signal to the later one. */
async function sighup(outcome: 'configuration reloaded' | 'configuration not reloaded: the running configuration stays'): Promise<number> {
  const seen = logLines().filter((l) => l.msg === outcome).length;
  const sent = performance.now();
  serve.child.kill('SIGHUP');
  for (;;) {
    const lines = logLines().filter((l) => l.msg === outcome);
    if (lines.length >= seen + 2) {
      expect(new Set(lines.slice(seen).map((l) => l.pid)).size).toBe(2);
      return performance.now() - sent;
    }
    if (performance.now() - sent > 5000) throw new Error(`no "${outcome}" from both workers: ${serve.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Four clients asking the hammered route with one session, each on its own keep-alive connections, until stopped. */
function hammer(session: string): { stop(): Promise<{ replies: Reply[]; errors: unknown[] }> } {
  let running = true;
  const replies: Reply[] = [];
  const errors: unknown[] = [];
  const clients = Array.from({ length: 4 }, async () => {
    while (running) {
      try {
        replies.push(await call(base, '/api/ping', { session }));
      } catch (error) {
        errors.push(error);
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(clients);
      return { replies, errors };
    },
  };
}

beforeAll(async () => {
  [first, second, other, live] = await Promise.all([startUpstream(), startUpstream(), startUpstream(), startWebSocketUpstream()]);
  identify(first, 'first');
  identify(second, 'second');
  identify(other, 'other');
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'));
  port = await freePort();
  configFile = join(dir, 'gatehouse.yaml');
  base = `http://127.0.0.1:${port}`;
  mkdirSync(join(dir, 'site'));
  writeFileSync(join(dir, 'site', 'index.html'), '<!doctype html><title>reloaded site</title>');
  writeConfig(before);
  expect(gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' }).code).toBe(0);
  expect(gatehouse(['user', 'add', 'alice', '--password-stdin', '--config', configFile], { input: `${password}\n` }).code).toBe(0);
  serve = await startServe(configFile, port);
}, 60_000);

afterAll(async () => {
  for (const res of streams) res.end();
  await serve?.stop();
  await Promise.all([first?.close(), second?.close(), other?.close(), live?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SIGHUP with a valid file', () => {
  let denied: Agent;

  it('applies a new route, a removed route, a changed upstream, a rate rule, an IP deny and a static site in every worker within 1 s, with no failed request, session or open connection', async () => {
    denied = fromAddress('127.0.0.2');
    const session = await login(base, 'alice', password);
    // Both workers answer before anything is tested (startServe waits for one).
    for (let i = 0; i < 10; i += 1) expect((await callOnFreshConnection(base, '/api/warm', { session })).status).toBe(200);
    expect((await call(base, '/old/x', { session })).status).toBe(200);
    expect((await call(base, '/new/x', { session })).status).toBe(404);
    expect((await call(base, '/api/x', { session, dispatcher: denied })).status).toBe(200);
    expect((await call(base, '/')).status).toBe(404);

    const socket = await openOrFail(base, '/live', { session });
    socket.send('before');
    expect((await nextMessage(socket)).data.toString()).toBe('before');
    const stream = new EventStreamClient(`${base}/events`, { session });
    expect(await stream.event(1)).toBe('data: opened');

    const load = hammer(session);
    await new Promise((r) => setTimeout(r, 300));
    writeConfig(after);
    const ms = await sighup('configuration reloaded');
    // SPEC §11: within 1 s of the signal. Every request after both workers said so sees the new file.
    expect(ms).toBeLessThan(1000);
    const fresh = (path: string, options = {}): Promise<Reply> => callOnFreshConnection(base, path, { session, ...options });
    for (let i = 0; i < 6; i += 1) {
      const reply = await fresh('/api/x');
      expect(reply.status).toBe(200);
      expect(reply.json().from).toBe('other');
      expect((await fresh('/old/x')).status).toBe(404);
      expect((await call(base, '/api/x', { session, dispatcher: denied })).json().error.code).toBe('ip_blocked');
      expect((await fresh('/')).text).toContain('reloaded site');
    }
    // The rule counts across both workers (the SQLite store): 3 in a minute, then refused.
    const news: number[] = [];
    for (let i = 0; i < 5; i += 1) news.push((await fresh('/new/x')).status);
    expect(news).toEqual([200, 200, 200, 429, 429]);
    await new Promise((r) => setTimeout(r, 300));
    const { replies, errors } = await load.stop();

    expect(errors).toEqual([]);
    expect(replies.length).toBeGreaterThan(20);
    expect(replies.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`)).toEqual([]);
    const from = replies.map((r) => r.json().from as string);
    expect(from.filter((f) => f !== 'first' && f !== 'other')).toEqual([]);
    expect(from).toContain('first');
    // A keep-alive connection's requests after the swap follow the new file too.
    expect(from.at(-1)).toBe('other');

    // The session, the open WebSocket and the event stream all outlived the reload.
    expect((await fresh('/auth/session')).status).toBe(200);
    socket.send('after');
    expect((await nextMessage(socket)).data.toString()).toBe('after');
    streams.at(-1)!.write('data: still here\n\n');
    expect(await stream.event(2)).toBe('data: still here');
    expect(stream.cut || stream.ended).toBe(false);
    socket.close();
    stream.destroy();
    await denied.close();
  }, 60_000);
});

describe('SIGHUP with a file that cannot be used', () => {
  async function stillAfter(): Promise<void> {
    const session = await login(base, 'alice', password);
    for (let i = 0; i < 4; i += 1) {
      const reply = await callOnFreshConnection(base, '/api/x', { session });
      expect(reply.status).toBe(200);
      expect(reply.json().from).toBe('other');
      expect((await callOnFreshConnection(base, '/old/x', { session })).status).toBe(404);
    }
  }

  function problems(since: number): LogLine[] {
    return logLines().slice(since).filter((l) => l.msg === 'configuration problem');
  }

  it('a YAML error: the running configuration stays and the problem is logged', async () => {
    const since = logLines().length;
    writeFileSync(configFile, 'server: { host: 127.0.0.1\nroutes: [\n');
    await sighup('configuration not reloaded: the running configuration stays');
    expect(problems(since).some((l) => /invalid YAML/.test(l.problem ?? ''))).toBe(true);
    await stillAfter();
  }, 30_000);

  it('schema errors: each key is named', async () => {
    const since = logLines().length;
    writeConfig({ ...after, routes: ['{ path: /api/**, methods: [FETCH], upstream: api }', '{ path: /x, upstream: nowhere, colour: red }'] });
    await sighup('configuration not reloaded: the running configuration stays');
    const keys = new Set(problems(since).map((l) => l.key));
    expect(keys).toContain('routes[0].methods[0]');
    expect(keys).toContain('routes[1].colour');
    expect(keys).toContain('routes[1].upstream');
    await stillAfter();
  }, 30_000);

  it('a changed server.port and store: refused by name', async () => {
    const since = logLines().length;
    writeConfig({ ...after, port: port + 1, store: './elsewhere.db', routes: [...after.routes, '{ path: /more/**, methods: [GET], upstream: side }'] });
    await sighup('configuration not reloaded: the running configuration stays');
    const keys = problems(since).map((l) => l.key).sort();
    expect(keys).toEqual(['server.port', 'server.port', 'store', 'store']);
    expect((await callOnFreshConnection(base, '/more/x', { session: await login(base, 'alice', password) })).status).toBe(404);
    await stillAfter();
  }, 30_000);

  it('a new upstream whose secret is not stored: refused, as at start, naming the key and never a value', async () => {
    const since = logLines().length;
    writeConfig({
      ...after,
      extraUpstream: '{ name: extra, url: "http://127.0.0.1:9", credential: { type: bearer, secret: not-stored } }',
      routes: [...after.routes, '{ path: /extra/**, methods: [GET], upstream: extra }'],
    });
    await sighup('configuration not reloaded: the running configuration stays');
    expect(new Set(problems(since).map((l) => l.key))).toEqual(new Set(['upstreams[3].credential.secret']));
    expect(serve.output()).not.toContain('the-upstream-token-123');
    await stillAfter();
    // The file fixed: it applies.
    writeConfig({ ...after, routes: [...after.routes, '{ path: /more/**, methods: [GET], upstream: side, stripPrefix: /more }'] });
    await sighup('configuration reloaded');
    const session = await login(base, 'alice', password);
    for (let i = 0; i < 4; i += 1) expect((await callOnFreshConnection(base, '/more/x', { session })).json().from).toBe('second');
  }, 30_000);
});
