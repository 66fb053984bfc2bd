import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Call, type Reply } from '../helpers/http.js';
import { freePort, gatehouse, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * `gatehouse block list` / `block remove` (SPEC §2) beside a real `gatehouse serve` with
 * `server.workers: 2`: a block set by one worker is enforced by both, lifting it from the CLI (another
 * process) holds on the very next request whichever worker answers, and blocks outlast a restart
 * (SPEC §8). Every request goes over a connection of its own, so the cluster spreads them over both
 * workers; which one answered is read from the access log (its `pid`) by the X-Request-Id.
 */

const password = 'a long enough password';
let dir: string;
let configFile: string;
let port: number;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;

/** A configuration with its own store, its secret and the user alice; returns its file and port. */
async function prepare(name: string, workers: number): Promise<{ file: string; port: number }> {
  const port = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, [
    `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1], workers: ${workers} }`,
    `store: { sqlite: ./${name}.db }`,
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    'limits:',
    '  - { name: per-ip, match: /api/ipblock/**, by: ip, max: 2, per: 1m, action: block, for: 15m }',
    '  - { name: per-session, match: /api/sblock/**, by: session, max: 1, per: 1m, action: block, for: 15m }',
    '',
  ].join('\n'));
  expect(gatehouse(['secret', 'set', 'api-token', '--config', file], { input: 'the-upstream-token-123' }).code).toBe(0);
  expect(gatehouse(['user', 'add', 'alice', '--password-stdin', '--config', file], { input: `${password}\n` }).code).toBe(0);
  return { file, port };
}

interface LogLine { pid?: number; requestId?: string; msg?: string }

/** One request over a connection of its own from the loopback address `from`, closed after. */
async function fresh(path: string, from: string, options: Call = {}): Promise<Reply> {
  const agent = new Agent({ pipelining: 0, localAddress: from });
  try {
    return await call(base, path, { ...options, dispatcher: agent });
  } finally {
    await agent.close();
  }
}

/** Six requests, until both workers have answered among them (the cluster hands out connections in turn). */
async function onBothWorkers(path: string, from: string, options: Call = {}): Promise<Reply[]> {
  return poll(async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 6; i += 1) replies.push(await fresh(path, from, options));
    const ids = replies.map((r) => String(r.headers['x-request-id']));
    const pids = await poll(async () => {
      const byId = new Map(serve.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine)
        .filter((l) => l.msg === 'request' && l.requestId).map((l) => [l.requestId!, l.pid]));
      return ids.map((id) => {
        const pid = byId.get(id);
        if (pid === undefined) throw new Error(`no access log line for ${id} yet`);
        return pid;
      });
    });
    if (new Set(pids).size < 2) throw new Error('one worker only so far');
    return replies;
  });
}

async function login(from: string): Promise<string> {
  const reply = await fresh('/auth/login', from, { method: 'POST', body: { username: 'alice', password } });
  if (reply.status !== 200 || !reply.cookie) throw new Error(`login failed with ${reply.status}: ${reply.text}`);
  return reply.cookie;
}

function blockList(): { rule: string; by: string; key: string; until: string }[] {
  const result = gatehouse(['block', 'list', '--json', '--config', configFile]);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(result.stdout) as { rule: string; by: string; key: string; until: string }[];
}

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-blocks-'));
  ({ file: configFile, port } = await prepare('workers', 2));
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('rate-rule blocks with server.workers: 2 and the CLI beside them', () => {
  it('an address blocked through one worker is refused by both; block remove lifts it on the very next request, on both', async () => {
    const client = '127.0.0.21';
    const session = await login(client);
    expect((await fresh('/api/ipblock/x', client, { session })).status).toBe(200);
    expect((await fresh('/api/ipblock/x', client, { session })).status).toBe(200);
    const blocked = await fresh('/api/ipblock/x', client, { session });
    expect(blocked.status).toBe(403);
    expect(blocked.json()).toMatchObject({ error: { code: 'blocked' } });
    // Refused before anything else: with or without the session, on either worker.
    expect((await onBothWorkers('/api/other', client)).map((r) => r.status)).toEqual(Array(6).fill(403));
    expect((await fresh('/api/other', '127.0.0.22', { session })).status).toBe(200);

    const [entry] = blockList().filter((b) => b.key === client);
    expect(entry).toMatchObject({ rule: 'per-ip', by: 'ip', key: client });
    const until = Date.parse(entry!.until);
    expect(new Date(until).toISOString()).toBe(entry!.until);
    expect(until).toBeGreaterThan(Date.now() + 14 * 60_000);

    expect(gatehouse(['block', 'remove', 'per-ip', client, '--config', configFile])).toMatchObject({ code: 0, stderr: '' });
    // The very next request, and every one after it, on either worker.
    expect((await fresh('/api/other', client, { session })).status).toBe(200);
    expect((await onBothWorkers('/api/other', client, { session })).map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(blockList().filter((b) => b.key === client)).toEqual([]);

    const audit = JSON.parse(gatehouse(['audit', '--json', '--config', configFile]).stdout) as { type: string; detail: Record<string, unknown> }[];
    expect(audit.find((e) => e.type === 'block_removed')).toMatchObject({ detail: { rule: 'per-ip', by: 'ip', key: client, removedBy: 'cli' } });
  });

  it('a session block is listed by the session id that session list shows, never by its cookie, and lifted on both workers', async () => {
    const client = '127.0.0.23';
    const cookie = await login(client);
    expect((await fresh('/api/sblock/x', client, { session: cookie })).status).toBe(200);
    expect((await fresh('/api/sblock/x', client, { session: cookie })).status).toBe(403);
    expect((await onBothWorkers('/api/other', client, { session: cookie })).map((r) => r.status)).toEqual(Array(6).fill(403));

    const sessions = JSON.parse(gatehouse(['session', 'list', '--user', 'alice', '--json', '--config', configFile]).stdout) as { id: string }[];
    const listed = gatehouse(['block', 'list', '--json', '--config', configFile]);
    const table = gatehouse(['block', 'list', '--config', configFile]);
    for (const output of [listed.stdout, table.stdout]) expect(output).not.toContain(cookie);
    const block = (JSON.parse(listed.stdout) as { by: string; key: string }[]).find((b) => b.by === 'session');
    expect(sessions.map((s) => s.id)).toContain(block!.key);

    expect(gatehouse(['block', 'remove', 'per-session', block!.key, '--config', configFile]).code).toBe(0);
    expect((await fresh('/api/other', client, { session: cookie })).status).toBe(200);
    expect((await onBothWorkers('/api/other', client, { session: cookie })).map((r) => r.status)).toEqual(Array(6).fill(200));
  });

  it('an unknown block: exit 1 with one sentence', () => {
    expect(gatehouse(['block', 'remove', 'per-ip', '127.0.0.99', '--config', configFile])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: no active block of rule "per-ip" on "127.0.0.99"\n',
    });
  });

  it('a block outlasts a restart of serve', async () => {
    const client = '127.0.0.24';
    const session = await login(client);
    for (let i = 0; i < 3; i += 1) await fresh('/api/ipblock/y', client, { session });
    expect((await fresh('/api/other', client, { session })).status).toBe(403);
    expect(await serve.stop()).toBe(0);
    serve = await startServe(configFile, port);
    const after = await onBothWorkers('/api/other', client, { session });
    expect(after.map((r) => r.status)).toEqual(Array(6).fill(403));
    expect(after[0]!.json()).toMatchObject({ error: { code: 'blocked' } });
    expect(blockList().map((b) => b.key)).toContain(client);
    expect(gatehouse(['block', 'remove', 'per-ip', client, '--config', configFile]).code).toBe(0);
    expect((await fresh('/api/other', client, { session })).status).toBe(200);
  }, 60_000);
});

describe('rate-rule blocks with one process (workers: 1, counters in memory)', () => {
  it('a block outlasts a restart of serve, and block remove lifts it on the very next request', async () => {
    await serve.stop();
    ({ file: configFile, port } = await prepare('single', 1));
    base = `http://127.0.0.1:${port}`;
    serve = await startServe(configFile, port);
    const client = '127.0.0.25';
    const session = await login(client);
    for (let i = 0; i < 3; i += 1) await fresh('/api/ipblock/z', client, { session });
    expect((await fresh('/api/other', client, { session })).status).toBe(403);
    expect(blockList().map((b) => b.key)).toEqual([client]);
    expect(await serve.stop()).toBe(0);
    serve = await startServe(configFile, port);
    expect((await fresh('/api/other', client, { session })).status).toBe(403);
    expect(gatehouse(['block', 'remove', 'per-ip', client, '--config', configFile]).code).toBe(0);
    expect((await fresh('/api/other', client, { session })).status).toBe(200);
  }, 60_000);
});
