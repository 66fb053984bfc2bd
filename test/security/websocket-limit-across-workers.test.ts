import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { runRaw } from '../cli/harness.js';
import { callOnFreshConnection } from '../helpers/http.js';
import { freePort, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { closed, openSocket, useWebSocketUpstream, type Opened, type TestWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10: at most 20 open WebSockets per session across workers (decision 0015). The attack: a
 * session spreads its sockets over the workers of one `serve` (`server.workers: 2`, one SQLite
 * file), so that no worker alone holds 20; with a per-process count each worker would let 20
 * through, 40 in all. Every socket is a TCP connection of its own, which node:cluster hands to the
 * workers in turn; the access log's 101 lines carry each worker's pid, which proves both held some.
 */

const password = 'a long enough password';
let dir: string;
let upstream: TestUpstream;
const liveUpstream = useWebSocketUpstream();
let wsUpstream: TestWebSocketUpstream;
let serve: ServeProcess;
let base: string;
const open: WebSocket[] = [];

async function login(): Promise<string> {
  const reply = await callOnFreshConnection(base, '/auth/login', { method: 'POST', body: { username: 'many', password } });
  expect(reply.status, reply.text).toBe(200);
  return reply.cookie!;
}

async function attempt(session: string): Promise<Opened> {
  const opened = await openSocket(base, '/ws/echo', { session, origin: base });
  if (opened.kind === 'open') {
    opened.socket.on('error', () => undefined);
    open.push(opened.socket);
  }
  return opened;
}

async function openOne(session: string): Promise<WebSocket> {
  const opened = await attempt(session);
  if (opened.kind !== 'open') throw new Error(`refused: ${opened.status} ${JSON.stringify(opened.body)}`);
  return opened.socket;
}

const refusal = (opened: Opened): unknown => (opened.kind === 'open' ? 'open' : { status: opened.status, code: opened.body?.error?.code });

/** The pids of the workers that answered a WebSocket handshake with 101 (access log lines). */
function workersThatUpgraded(): Set<number> {
  const pids = new Set<number>();
  for (const line of serve.output().split('\n')) {
    if (!line.includes('"status":101')) continue;
    const entry = JSON.parse(line) as { pid?: number; path?: string };
    if (entry.path === '/ws/echo' && entry.pid !== undefined) pids.add(entry.pid);
  }
  return pids;
}

beforeAll(async () => {
  upstream = await startUpstream();
  wsUpstream = liveUpstream.upstream;
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-ws-limit-workers-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "${base}", allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }, { name: live, url: "${wsUpstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /ws/**, upstream: live, websocket: true, stripPrefix: /ws }, { path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    'login: { maxFailures: 1000, backoff: 1s, maxBackoff: 1s, perIp: { max: 100000, per: 1m } }',
    '',
  ].join('\n'));
  expect((await runRaw(['secret', 'set', 'api-token', '--config', configFile], { stdin: 'the-upstream-token-123' })).code).toBe(0);
  expect((await runRaw(['user', 'add', 'many', '--password-stdin', '--config', configFile], { stdin: `${password}\n` })).code).toBe(0);
  serve = await startServe(configFile, port);
  await poll(async () => {
    for (let i = 0; i < 4; i++) await callOnFreshConnection(base, '/healthz');
    const pids = new Set(serve.output().split('\n').filter((l) => l.includes('gatehouse listening')).map((l) => (JSON.parse(l) as { pid?: number }).pid));
    if (pids.size < 2) throw new Error('one worker only so far');
  });
}, 120_000);

afterEach(async () => {
  for (const socket of open.splice(0)) socket.terminate();
  wsUpstream.reset();
});

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('at most 20 open WebSockets per session across the workers of one serve (SPEC §10)', () => {
  it('20 spread over both workers: the 21st is refused 429 by either worker; closing one frees one slot for both', async () => {
    const session = await login();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 20; i++) sockets.push(await openOne(session));
    // Both workers hold some of the 20 (so neither reached 20 on its own count).
    await poll(async () => {
      if (workersThatUpgraded().size < 2) throw new Error('the 101s are not logged by both workers yet');
    });
    // Four more attempts, on connections of their own: both workers refuse.
    for (let i = 0; i < 4; i++) expect(refusal(await attempt(session)), `attempt ${21 + i}`).toEqual({ status: 429, code: 'too_many_connections' });
    expect(wsUpstream.handshakes).toHaveLength(20);

    const first = sockets[0]!;
    first.close();
    await closed(first);
    // The release reaches the store once the worker has seen the close: then one socket, and only one, opens.
    await poll(async () => {
      await openOne(session);
    });
    for (let i = 0; i < 2; i++) expect(refusal(await attempt(session)), `after the reopen, attempt ${i}`).toEqual({ status: 429, code: 'too_many_connections' });
    expect(wsUpstream.handshakes).toHaveLength(21);
  }, 60_000);

  it('30 upgrades fired at once for one session at both workers: exactly 20 open, the others are 429', async () => {
    const session = await login();
    const outcomes = await Promise.all(Array.from({ length: 30 }, () => attempt(session)));
    const summary = outcomes.map(refusal);
    expect(summary.filter((o) => o === 'open'), JSON.stringify(summary)).toHaveLength(20);
    expect(summary.filter((o) => o !== 'open')).toEqual(Array.from({ length: 10 }, () => ({ status: 429, code: 'too_many_connections' })));
    expect(wsUpstream.handshakes).toHaveLength(20);
  }, 60_000);
});
