import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, login } from '../helpers/http.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const password = 'a long enough password';
let dir: string;
let configFile: string;
let upstream: TestUpstream;
let serve: ServeProcess;
let base: string;

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-serve-'));
  const port = await freePort();
  configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1] }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
    '',
  ].join('\n'));
  expect(gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' }).code).toBe(0);
  for (const name of ['alice', 'bob']) {
    expect(gatehouse(['user', 'add', name, '--password-stdin', '--config', configFile], { input: `${password}\n` }).code).toBe(0);
  }
  serve = await startServe(configFile, port);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await serve?.stop();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the CLI against a running gateway (same store, another process)', () => {
  it('a session revoked from the CLI is refused on the very next request', async () => {
    const cookie = await login(base, 'alice', password);
    expect((await call(base, '/api/x', { session: cookie })).status).toBe(200);
    const list = gatehouse(['session', 'list', '--user', 'alice', '--json', '--config', configFile]);
    expect(list.code).toBe(0);
    const [session] = JSON.parse(list.stdout) as { id: string; user: string; ip: string }[];
    expect(session).toMatchObject({ user: 'alice', ip: '127.0.0.1' });
    expect(list.stdout).not.toContain(cookie);
    expect(gatehouse(['session', 'revoke', session!.id, '--config', configFile]).code).toBe(0);
    expect((await call(base, '/api/x', { session: cookie })).status).toBe(401);
  });

  it('locking, a password reset and a password change from the CLI end sessions at once', async () => {
    let cookie = await login(base, 'bob', password);
    expect(gatehouse(['user', 'lock', 'bob', '--config', configFile]).code).toBe(0);
    expect((await call(base, '/api/x', { session: cookie })).status).toBe(401);
    expect((await call(base, '/auth/login', { method: 'POST', body: { username: 'bob', password } })).status).toBe(401);
    expect(gatehouse(['user', 'unlock', 'bob', '--config', configFile]).code).toBe(0);

    cookie = await login(base, 'bob', password);
    expect(gatehouse(['user', 'require-reset', 'bob', '--config', configFile]).code).toBe(0);
    expect((await call(base, '/api/x', { session: cookie })).status).toBe(401);
    const reset = await call(base, '/auth/login', { method: 'POST', body: { username: 'bob', password } });
    expect(reset.json().passwordResetRequired).toBe(true);

    cookie = await login(base, 'bob', password);
    expect(gatehouse(['user', 'passwd', 'bob', '--password-stdin', '--config', configFile], { input: 'bob has another password\n' }).code).toBe(0);
    expect((await call(base, '/api/x', { session: cookie })).status).toBe(401);
  });

  it('records what happened in the audit trail, listed newest first', async () => {
    const audit = gatehouse(['audit', '--limit', '50', '--json', '--config', configFile]);
    expect(audit.code).toBe(0);
    const events = JSON.parse(audit.stdout) as { type: string; time: string }[];
    const types = events.map((e) => e.type);
    for (const type of ['login_succeeded', 'session_revoked', 'user_locked', 'password_reset_required', 'password_changed', 'secret_set', 'user_created']) {
      expect(types, type).toContain(type);
    }
    expect([...events].sort((a, b) => b.time.localeCompare(a.time))).toEqual(events);
    expect(audit.stdout).not.toContain('the-upstream-token-123');
    expect(audit.stdout).not.toContain(password);
  });

  it('drains an in-flight request on SIGTERM, then exits 0', async () => {
    upstream.handle((_req, res) => setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"slow":true}');
    }, 700));
    const cookie = await login(base, 'alice', password);
    const inflight = call(base, '/api/slow', { session: cookie });
    await new Promise((r) => setTimeout(r, 200));
    const code = serve.stop();
    const reply = await inflight;
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ slow: true });
    expect(await code).toBe(0);
    expect(serve.output()).not.toContain('the-upstream-token-123');
  });
});

describe('a wrong master key', () => {
  it('makes serve refuse to start with a clear message and nothing in the store changed', async () => {
    const otherKey = join(dir, 'other.key');
    writeFileSync(otherKey, `${Buffer.alloc(32, 7).toString('base64')}\n`);
    const wrong = join(dir, 'wrong-key.yaml');
    writeFileSync(wrong, readFileSync(configFile, 'utf8').replace('masterKey: file:./master.key', 'masterKey: file:./other.key'));
    const result = gatehouse(['serve', '--config', wrong]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/master ?key/i);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toContain(Buffer.alloc(32, 7).toString('base64'));
    expect(gatehouse(['secret', 'list', '--json', '--config', configFile]).stdout).toContain('api-token');
  });
});
