import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callOnFreshConnection, type Call, type Reply } from '../helpers/http.js';
import { bin, freePort, gatehouse, poll, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * `server.workers: 2`: a real `gatehouse serve` whose primary forks two workers sharing the port
 * (node:cluster) and the SQLite store. Every request here goes over a connection of its own, so the
 * cluster spreads them over both workers; which process answered is read from the access log line
 * (its `pid`) with the response's X-Request-Id.
 */

const password = 'a long enough password';
let dir: string;
let configFile: string;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;

interface LogLine { pid?: number; requestId?: string; msg?: string; [key: string]: unknown }

function logLines(output: string): LogLine[] {
  return output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

function fresh(path: string, options: Call = {}): Promise<Reply> {
  return callOnFreshConnection(base, path, options);
}

/** The pid of the worker that answered each reply, from the access log (written asynchronously). */
async function answeredBy(replies: Reply[], output: () => string = () => serve.output()): Promise<number[]> {
  const ids = replies.map((r) => String(r.headers['x-request-id']));
  return poll(async () => {
    const byId = new Map(logLines(output()).filter((l) => l.msg === 'request' && l.requestId).map((l) => [l.requestId!, l.pid]));
    return ids.map((id) => {
      const pid = byId.get(id);
      if (pid === undefined) throw new Error(`no access log line with a pid for ${id} yet`);
      return pid;
    });
  });
}

async function freshLogin(username: string): Promise<string> {
  const reply = await fresh('/auth/login', { method: 'POST', body: { username, password } });
  if (reply.status !== 200 || !reply.cookie) throw new Error(`login failed with ${reply.status}: ${reply.text}`);
  return reply.cookie;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function parentOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after the last ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function writeConfig(file: string, port: number, extra: string[] = []): void {
  writeFileSync(file, [
    `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    'limits: [{ name: per-session, match: /api/**, by: session, max: 10, per: 1m, action: reject }]',
    // A long first wait, so a slow machine cannot see the back-off end in the middle of a test.
    'login: { maxFailures: 5, backoff: 1m, maxBackoff: 15m, perIp: { max: 100, per: 5m } }',
    ...extra,
    '',
  ].join('\n'));
}

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'));
  const port = await freePort();
  configFile = join(dir, 'gatehouse.yaml');
  writeConfig(configFile, port);
  expect(gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' }).code).toBe(0);
  for (const name of ['alice', 'bob', 'carol', 'dave']) {
    expect(gatehouse(['user', 'add', name, '--password-stdin', '--config', configFile], { input: `${password}\n` }).code).toBe(0);
  }
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('server.workers: 2', () => {
  let workerPids: number[] = [];

  it('answers from two distinct worker processes, children of the serve process', async () => {
    // startServe returns once one worker answers; the other may still be starting: ask until both do.
    workerPids = await poll(async () => {
      const replies: Reply[] = [];
      for (let i = 0; i < 6; i += 1) replies.push(await fresh('/healthz'));
      expect(replies.map((r) => r.status)).toEqual(Array(6).fill(200));
      const pids = [...new Set(await answeredBy(replies))];
      if (pids.length < 2) throw new Error('one worker only so far');
      return pids;
    });
    expect(workerPids).toHaveLength(2);
    for (const pid of workerPids) {
      expect(pid).not.toBe(serve.child.pid);
      expect(parentOf(pid)).toBe(serve.child.pid);
    }
  });

  it('a session created through one worker is valid on the other, and its logout ends it on both', async () => {
    const login = await fresh('/auth/login', { method: 'POST', body: { username: 'alice', password } });
    expect(login.status).toBe(200);
    const cookie = login.cookie!;
    const uses: Reply[] = [];
    for (let i = 0; i < 6; i += 1) uses.push(await fresh('/api/who', { session: cookie }));
    expect(uses.map((r) => r.status)).toEqual(Array(6).fill(200));
    const [loginPid] = await answeredBy([login]);
    const usePids = await answeredBy(uses);
    expect(usePids.some((pid) => pid !== loginPid)).toBe(true);
    expect(new Set(usePids).size).toBe(2);

    expect((await fresh('/auth/logout', { method: 'POST', session: cookie })).status).toBeLessThan(300);
    const after: Reply[] = [];
    for (let i = 0; i < 4; i += 1) after.push(await fresh('/api/who', { session: cookie }));
    expect(after.map((r) => r.status)).toEqual(Array(4).fill(401));
    expect(new Set(await answeredBy(after)).size).toBe(2);
  });

  it('holds a rate rule across workers: of 40 parallel requests exactly 10 pass, 30 get 429', async () => {
    const cookie = await freshLogin('bob');
    upstream.seen.length = 0;
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => fresh(`/api/limited/${i}`, { session: cookie })));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    expect(upstream.seen.filter((r) => r.url.startsWith('/limited/'))).toHaveLength(10);
    // Both workers took part, and both refused: neither kept a count of its own.
    const pids = await answeredBy(replies);
    expect(new Set(pids).size).toBe(2);
    expect(new Set(pids.filter((_, i) => statuses[i] === 429)).size).toBe(2);
  });

  it('starts an account back-off after maxFailures whichever worker answers (sequential attempts)', async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 8; i += 1) replies.push(await fresh('/auth/login', { method: 'POST', body: { username: 'carol', password: `wrong ${i}` } }));
    expect(replies.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    for (const r of replies.slice(5)) {
      expect(r.json()).toMatchObject({ error: { code: 'too_many_attempts' } });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // The right password waits too, on either worker.
    const right = [await fresh('/auth/login', { method: 'POST', body: { username: 'carol', password } }), await fresh('/auth/login', { method: 'POST', body: { username: 'carol', password } })];
    expect(right.map((r) => r.status)).toEqual([429, 429]);
    expect(new Set(await answeredBy([...replies, ...right])).size).toBe(2);
  });

  it('bounds a parallel burst of wrong passwords to maxFailures + (workers − 1) checks', async () => {
    // src/accounts/login-throttle.ts: across processes the check and the record are not one
    // transaction, so each of N workers may let one attempt through per step: at most N − 1 extra.
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => fresh('/auth/login', { method: 'POST', body: { username: 'dave', password: `wrong ${i}` } })));
    const statuses = replies.map((r) => r.status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    const checked = statuses.filter((s) => s === 401).length;
    expect(checked).toBeGreaterThanOrEqual(5);
    expect(checked).toBeLessThanOrEqual(5 + 1);
    expect((await fresh('/auth/login', { method: 'POST', body: { username: 'dave', password } })).status).toBe(429);
  });

  it('SIGTERM stops the primary and every worker, exit 0, no worker left', async () => {
    expect(workerPids).toHaveLength(2);
    for (const pid of workerPids) expect(alive(pid)).toBe(true);
    expect(await serve.stop()).toBe(0);
    await poll(async () => {
      for (const pid of workerPids) if (alive(pid)) throw new Error(`worker ${pid} still running`);
    });
    expect(alive(serve.child.pid!)).toBe(false);
    const stopped = logLines(serve.output()).filter((l) => l.msg === 'stopped').map((l) => l.pid);
    expect(stopped.sort()).toEqual([...workerPids].sort());
    expect(serve.output()).not.toContain('the-upstream-token-123');
  });
});

describe('server.workers: 2, regressions in the primary', () => {
  it('a worker that cannot start makes serve exit with its code instead of restarting it forever', () => {
    const broken = join(dir, 'missing-secret.yaml');
    writeFileSync(broken, readFileSync(configFile, 'utf8').replace('secret: api-token', 'secret: not-stored'));
    const started = Date.now();
    const result = spawnSync(process.execPath, [bin, 'serve', '--config', broken], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 20_000 });
    expect(result.signal, 'serve was still running after 20 s').toBeNull();
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('no secret named "not-stored"');
    expect(Date.now() - started).toBeLessThan(20_000);
    const lines = logLines(result.stdout);
    expect(lines.filter((l) => l.msg === 'worker exited; starting another')).toEqual([]);
    // Every worker it forked is gone.
    const pids = [...new Set(lines.map((l) => l.pid).filter((p): p is number => typeof p === 'number'))];
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 30_000);

  it('Ctrl-C (SIGINT to the whole process group) drains in-flight requests in the workers, exit 0', async () => {
    const port = await freePort();
    const file = join(dir, 'ctrl-c.yaml');
    writeConfig(file, port);
    const child = spawn(process.execPath, [bin, 'serve', '--config', file], { env: { PATH: process.env.PATH }, detached: true });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    const exited = once(child, 'exit');
    try {
      base = `http://127.0.0.1:${port}`;
      // Both workers listening: two distinct pids have answered.
      const workers = await poll(async () => {
        const replies: Reply[] = [];
        for (let i = 0; i < 4; i += 1) replies.push(await fresh('/healthz'));
        const pids = [...new Set(await answeredBy(replies, () => output))];
        if (pids.length !== 2) throw new Error('one worker only so far');
        return pids;
      });
      upstream.handle((_req, res) => setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"slow":true}');
      }, 700));
      const cookie = await freshLogin('alice');
      const inflight = [fresh('/api/slow/1', { session: cookie }), fresh('/api/slow/2', { session: cookie }), fresh('/api/slow/3', { session: cookie })];
      await new Promise((r) => setTimeout(r, 250));
      // The terminal signals the whole group; the workers see it a moment before the primary's
      // SIGTERM follows (sent in that order here so the test does not depend on the scheduler).
      for (const pid of workers) process.kill(pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 100));
      process.kill(child.pid!, 'SIGINT');
      const replies = await Promise.all(inflight);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      const [code] = await exited;
      expect(code).toBe(0);
      expect(logLines(output).filter((l) => l.msg === 'stopped')).toHaveLength(2);
    } finally {
      upstream.handle(null);
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, 'SIGKILL');
        await exited;
      }
    }
  }, 30_000);
});
