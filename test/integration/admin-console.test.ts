import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, consoleCall, consoleSignIn, enrolTotp, startConsole, type TestConsole } from '../helpers/admin-console.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { startSecondGateway } from '../helpers/second-gateway.js';
import { join } from 'node:path';
import { freePort, gatehouse } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** The console's HTTP contract (SPEC §11) without a browser: assets, session rules, API answers. */
let upstream: TestUpstream;
let gw: TestGateway;
let konsole: TestConsole;
let totpSecret: string;
const minutes = (n: number): number => n * 60_000;

beforeAll(async () => {
  upstream = await startUpstream();
  const port = await freePort();
  gw = await startGateway({ upstreamUrl: upstream.url, users: [{ name: 'root', roles: ['admin'] }, { name: 'alice' }], config: { admin: adminKey(port) } });
  konsole = await startConsole(gw, port);
  totpSecret = await enrolTotp(gw, 'root');
});

afterAll(async () => {
  await konsole?.close();
  await gw?.close();
  await upstream?.close();
});

const signIn = (): Promise<string> => consoleSignIn(konsole.url, gw, 'root', totpSecret);

describe('admin console: its files', () => {
  it('serves the page, its script and uPlot with their content types and a strict CSP; no inline script, style or handler', async () => {
    const types: Record<string, string> = {
      '/': 'text/html; charset=utf-8',
      '/users': 'text/html; charset=utf-8',
      '/assets/console.js': 'text/javascript; charset=utf-8',
      '/assets/console.css': 'text/css; charset=utf-8',
      '/assets/uplot.js': 'text/javascript; charset=utf-8',
      '/assets/uplot.css': 'text/css; charset=utf-8',
    };
    for (const [path, type] of Object.entries(types)) {
      const reply = await call(konsole.url, path, { csrf: false });
      expect(reply.status, path).toBe(200);
      expect(reply.headers['content-type']).toBe(type);
      expect(reply.headers['content-security-policy']).toContain("default-src 'self'");
      expect(reply.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
    }
    expect((await call(konsole.url, '/assets/uplot.js')).text).toContain('uPlot');
    const html = (await call(konsole.url, '/')).text;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/<style|\sstyle=/i);
  });

  it('leaves paths that are not its own to the listener: /metrics to the metrics handler, anything else 404', async () => {
    expect((await call(konsole.url, '/metrics')).status).toBe(200);
    expect((await call(konsole.url, '/nothing-here')).status).toBe(404);
    expect((await call(konsole.url, '/api/nothing')).json().error.code).toBe('not_found');
  });
});

describe('admin console: its session', () => {
  it('sets an HttpOnly, SameSite=Strict cookie of its own name (no Secure on an http origin)', async () => {
    const { reply } = await signInReply();
    const set = reply.setCookie.find((c) => c.startsWith('gatehouse_admin='))!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).not.toMatch(/Secure|Domain/);
  });

  it('ends after the idle timeout; an action is activity, the overview poll is not', async () => {
    const cookie = await signIn();
    gw.clock.advance(minutes(20));
    expect((await consoleCall(konsole.url, '/api/users', cookie)).status).toBe(200);
    gw.clock.advance(minutes(20));
    expect((await consoleCall(konsole.url, '/api/overview', cookie)).status).toBe(200);
    gw.clock.advance(minutes(11));
    expect((await consoleCall(konsole.url, '/api/users', cookie)).status).toBe(401);
  });

  it('is revoked like any session: the next request after `session revoke --user` gets 401', async () => {
    const cookie = await signIn();
    expect((await consoleCall(konsole.url, '/api/users', cookie)).status).toBe(200);
    await gw.gateway.services.sessions.revokeUser('root', { user: 'cli' }, 'revoked_from_cli');
    expect((await consoleCall(konsole.url, '/api/users', cookie)).status).toBe(401);
  });

  it('a wrong or replayed TOTP code is refused as invalid credentials and audited', async () => {
    const reply = await call(konsole.url, '/api/login', { method: 'POST', body: { username: 'root', password: 'correct horse battery staple', code: '123456' } });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('invalid_credentials');
    expect((await gw.gateway.services.store.audit.recent(1))[0]).toMatchObject({ type: 'login_failed', user: 'root', detail: { console: true } });
  });
});

describe('admin console: its API', () => {
  it("records the admin's name on an action and exports the audit log as JSON lines, filtered", async () => {
    const cookie = await signIn();
    expect((await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', body: { name: 'alice' } })).status).toBe(204);
    expect((await consoleCall(konsole.url, '/api/users/unlock', cookie, { method: 'POST', body: { name: 'alice' } })).status).toBe(204);
    expect((await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', body: { name: 'nobody' } })).status).toBe(404);
    const exported = await consoleCall(konsole.url, '/api/audit.jsonl?type=user_locked&user=alice', cookie);
    expect(exported.status).toBe(200);
    expect(exported.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const lines = exported.text.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ type: 'user_locked', user: 'alice', ip: '127.0.0.1', detail: { by: 'root' } });
  });

  it('sets a secret without ever answering its value, and refuses one too short for the leak guard', async () => {
    const cookie = await signIn();
    const value = 'console-set-value-7d1e';
    const set = await consoleCall(konsole.url, '/api/secrets/set', cookie, { method: 'POST', body: { name: 'api-token', value } });
    expect(set.status).toBe(204);
    expect(set.text).toBe('');
    expect(await gw.gateway.services.secrets.reveal('api-token')).toBe(value);
    const listed = await consoleCall(konsole.url, '/api/secrets', cookie);
    expect(listed.json().secrets.map((s: { name: string }) => s.name)).toContain('api-token');
    expect(listed.text).not.toContain(value);
    expect((await consoleCall(konsole.url, '/api/secrets/set', cookie, { method: 'POST', body: { name: 'x', value: 'short' } })).status).toBe(400);
    expect(gw.logs()).not.toContain(value);
  });
});

describe('admin console: users, sessions and audit filters', () => {
  it('require-reset, mfa-reset and a session revoke act as the CLI does, each audited with the admin as actor', async () => {
    const cookie = await signIn();
    const alice = await login(gw.url, 'alice');
    const sessions = (await consoleCall(konsole.url, '/api/sessions?user=alice', cookie)).json().sessions;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ user: 'alice', ip: '127.0.0.1' });
    expect((await consoleCall(konsole.url, '/api/sessions/revoke', cookie, { method: 'POST', body: { handle: sessions[0].id } })).status).toBe(204);
    expect((await call(gw.url, '/api/things', { session: alice })).status).toBe(401);
    const revoked = (await gw.gateway.services.store.audit.recent(5)).find((e) => e.type === 'session_revoked');
    expect(revoked).toMatchObject({ user: 'alice', detail: { by: 'root', reason: 'revoked_from_console' } });

    const aliceTotp = await enrolTotp(gw, 'alice');
    expect(aliceTotp).not.toBe('');
    expect((await consoleCall(konsole.url, '/api/users/mfa-reset', cookie, { method: 'POST', body: { name: 'alice' } })).status).toBe(204);
    expect(await gw.gateway.services.totp.isEnrolled('alice')).toBe(false);

    expect((await consoleCall(konsole.url, '/api/users/require-reset', cookie, { method: 'POST', body: { name: 'alice' } })).status).toBe(204);
    const users = (await consoleCall(konsole.url, '/api/users?q=ali', cookie)).json().users;
    expect(users).toEqual([expect.objectContaining({ name: 'alice', passwordResetRequired: true, mfaEnabled: false, locked: false })]);
    await gw.gateway.services.accounts.setPassword('alice', 'correct horse battery staple', { user: 'test' });
  });

  it('filters the audit log by address and time', async () => {
    const cookie = await signIn();
    const from = new Date(gw.clock.now()).toISOString();
    await call(gw.url, '/auth/login', { method: 'POST', body: { username: 'zed', password: 'wrong' } });
    const byIp = (await consoleCall(konsole.url, `/api/audit?type=login_failed&ip=127.0.0.1&from=${encodeURIComponent(from)}`, cookie)).json().events;
    expect(byIp.map((e: { user: string }) => e.user)).toEqual(['zed']);
    expect((await consoleCall(konsole.url, '/api/audit?ip=192.0.2.200', cookie)).json().events).toEqual([]);
    const before = new Date(gw.clock.now() - 3_600_000 * 24).toISOString();
    expect((await consoleCall(konsole.url, `/api/audit?to=${encodeURIComponent(before)}`, cookie)).json().events).toEqual([]);
  });
});

describe('admin console: effect on another gateway on the same store', () => {
  it("a lock refuses the user's very next request there; a secret set reaches its upstream calls", async () => {
    const other = await startSecondGateway(gw);
    try {
      const cookie = await signIn();
      const alice = await login(other.url, 'alice');
      expect((await call(other.url, '/api/things', { session: alice })).status).toBe(200);
      expect((await consoleCall(konsole.url, '/api/users/lock', cookie, { method: 'POST', body: { name: 'alice' } })).status).toBe(204);
      expect((await call(other.url, '/api/things', { session: alice })).status).toBe(401);
      const value = 'console-set-for-both-31c9';
      expect((await consoleCall(konsole.url, '/api/secrets/set', cookie, { method: 'POST', body: { name: 'api-token', value } })).status).toBe(204);
      await expect.poll(async () => {
        await call(other.url, '/api/public/x');
        return upstream.seen.at(-1)?.headers.authorization;
      }, { timeout: 10_000, interval: 200 }).toBe(`Bearer ${value}`);
    } finally {
      await other.close();
      await gw.gateway.services.accounts.unlock('alice', { user: 'test' });
    }
  });
});

describe('admin console and CLI (issue 15, item 5)', () => {
  it('show the same active blocks: /api/blocks equals `gatehouse block list --json`', async () => {
    const cookie = await signIn();
    // The CLI runs on the real clock, the console on the test's (moved ahead by earlier tests): the
    // blocks end well after both, or before both.
    const until = Math.max(Date.now(), gw.clock.now()) + 3_600_000;
    const ended = Math.min(Date.now(), gw.clock.now()) - 1;
    await gw.gateway.services.store.blocks.add({ rule: 'per-ip', by: 'ip', key: '192.0.2.7', until });
    await gw.gateway.services.store.blocks.add({ rule: 'per-user', by: 'user', key: 'alice', until: until + 1 });
    await gw.gateway.services.store.blocks.add({ rule: 'per-ip', by: 'ip', key: '192.0.2.8', until: ended });
    const shown = (await consoleCall(konsole.url, '/api/blocks', cookie)).json().blocks;
    const cli = gatehouse(['--config', join(gw.dir, 'gatehouse.yaml'), 'block', 'list', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(shown).toEqual(JSON.parse(cli.stdout));
    expect(shown.map((b: { key: string }) => b.key).sort()).toEqual(['192.0.2.7', 'alice']);
  });
});

async function signInReply(): Promise<{ reply: Awaited<ReturnType<typeof call>> }> {
  const { totpCode } = await import('../helpers/totp.js');
  const reply = await call(konsole.url, '/api/login', { method: 'POST', body: { username: 'root', password: 'correct horse battery staple', code: totpCode(totpSecret, gw.clock.now()) } });
  gw.clock.advance(30_000);
  return { reply };
}
