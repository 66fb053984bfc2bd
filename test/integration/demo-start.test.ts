import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeDemoConfig } from '../helpers/demo-config.js';
import { CookieJar } from '../helpers/oidc-provider.js';
import { freePort } from '../helpers/processes.js';

/**
 * `npm start` as a newcomer runs it (the compiled dist/demo/start.js, demo/gatehouse.yaml moved to
 * free ports and a temporary data folder): the demo provider answers discovery, the website's
 * "Sign in with the demo provider" flow starts and completes with the account the start box
 * prints, the user-token route says whose token it got, and all of it survives a restart.
 */

const startJs = resolve(import.meta.dirname, '../../dist/demo/start.js');

let dir: string;
let configFile: string;
let ports: { gateway: number; upstream: number; provider: number };
let origin: string;
let issuer: string;

interface Demo {
  child: ChildProcessWithoutNullStreams;
  output: string;
}

async function startDemoProcess(): Promise<Demo> {
  const child = spawn(process.execPath, [startJs, '--config', configFile, '--data', join(dir, 'data')], { env: { PATH: process.env.PATH } });
  const demo: Demo = { child, output: '' };
  child.stdout.on('data', (c: Buffer) => { demo.output += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { demo.output += c.toString(); });
  const deadline = Date.now() + 30_000;
  while (!demo.output.includes('Ctrl+C stops them all.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not start:\n${demo.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return demo;
}

async function stopDemo(demo: Demo): Promise<number | null> {
  if (demo.child.exitCode !== null) return demo.child.exitCode;
  const exited = once(demo.child, 'exit');
  demo.child.kill('SIGINT');
  const [code] = await exited as [number | null];
  return code;
}

/** A request as the browser sends it to the gateway, by its public origin's host name. */
async function toGateway(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(`http://127.0.0.1:${ports.gateway}${path}`, { headers: { host: new URL(origin).host, ...headers } });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** The start box's `user:` and `password:` lines, in order. */
function boxAccounts(output: string): { user: string; password: string | undefined }[] {
  const users = [...output.matchAll(/\|\s+user:\s+(\S+)/g)].map((m) => m[1]!);
  const passwords = [...output.matchAll(/\|\s+password:\s+(\S+)/g)].map((m) => m[1]!);
  return users.map((user, i) => ({ user, password: passwords[i] }));
}

/**
 * What the browser does from the site's "Sign in with the demo provider" link to the provider's
 * redirect back: returns the login page's answer and, after `submit`, the gateway's callback URL.
 */
async function providerLogin(submit: { username: string; password: string }): Promise<{ page: { status: number; csp: string; html: string }; callback: string; loginCookie: string }> {
  const start = await toGateway('/auth/oidc/login?provider=demo&returnTo=/');
  expect(start.status).toBe(303);
  const loginCookie = String(start.headers['set-cookie']).split(';')[0]!;
  const jar = new CookieJar();
  let url = String(start.headers.location);
  expect(url.startsWith(`${issuer}/auth?`)).toBe(true);
  const authorize = await request(url, { headers: { cookie: jar.header() } });
  jar.take(authorize.headers['set-cookie']);
  await authorize.body.text();
  url = new URL(String(authorize.headers.location), url).href;
  expect(url).toMatch(new RegExp(`^${issuer}/interaction/[^/]+$`));
  const form = await request(url, { headers: { cookie: jar.header() } });
  jar.take(form.headers['set-cookie']);
  const page = { status: form.statusCode, csp: String(form.headers['content-security-policy']), html: await form.body.text() };
  let res = await request(url, {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...submit, action: 'login' }).toString(),
  });
  for (let hop = 0; hop < 5 && url.startsWith(issuer); hop += 1) {
    jar.take(res.headers['set-cookie']);
    await res.body.text();
    // No redirect: the provider kept the browser on its page (a wrong password).
    if (typeof res.headers.location !== 'string') break;
    url = new URL(res.headers.location, url).href;
    if (!url.startsWith(issuer)) break;
    res = await request(url, { headers: { cookie: jar.header() } });
  }
  return { page, callback: url, loginCookie };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-demo-start-'));
  ports = { gateway: await freePort(), upstream: await freePort(), provider: await freePort() };
  origin = `http://localhost:${ports.gateway}`;
  issuer = `http://127.0.0.1:${ports.provider}`;
  configFile = writeDemoConfig(dir, ports);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm start with the demo provider', { timeout: 120_000 }, () => {
  test('prints both accounts, answers discovery, signs in through the provider, and keeps working after a restart', async () => {
    let demo = await startDemoProcess();
    try {
      const [local, river] = boxAccounts(demo.output);
      expect(local).toEqual({ user: 'demo', password: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/) as string });
      expect(river).toEqual({ user: 'river', password: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) as string });
      expect(demo.output).toContain(`Demo OpenID provider on ${issuer}`);

      // The provider answers discovery with the issuer the configuration names.
      const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
      expect(await discovery.json()).toMatchObject({ issuer, authorization_endpoint: `${issuer}/auth`, code_challenge_methods_supported: ['S256'] });

      // The website's button: the provider is listed, and its flow reaches the provider's own page.
      expect(JSON.parse((await toGateway('/auth/providers')).text)).toEqual({ providers: [{ name: 'demo' }] });
      const wrong = await providerLogin({ username: 'river', password: 'not the password' });
      expect(wrong.page.status).toBe(200);
      expect(wrong.page.html).toContain('<form method="post"');
      expect(wrong.page.html).not.toMatch(/<script|<style| style=| on[a-z]+=/i);
      expect(wrong.page.csp).toMatch(/^default-src 'none'; style-src 'self'; form-action 'self' http:\/\/localhost:\d+;/);
      expect(wrong.callback.startsWith(issuer)).toBe(true);

      const signIn = await providerLogin({ username: 'river', password: river!.password! });
      expect(signIn.callback.startsWith(`${origin}/auth/oidc/callback/demo?`)).toBe(true);
      const url = new URL(signIn.callback);
      const back = await toGateway(`${url.pathname}${url.search}`, { cookie: signIn.loginCookie });
      expect([back.status, back.headers.location]).toEqual([303, '/']);
      const session = String(back.headers['set-cookie']).split(';')[0]!;
      const me = await toGateway('/api/profile/v1/me', { cookie: session, 'x-csrf': '1' });
      expect(me.status).toBe(200);
      expect(JSON.parse(me.text)).toMatchObject({ tokenOwner: { sub: 'river-0001', name: 'River Song' }, assertion: { user: 'demo.river' } });

      // A restart: the provider's keys, grants and tokens, and the secrets, are where they were.
      const keys = readFileSync(join(dir, 'data', 'demo-provider', 'keys.json'), 'utf8');
      expect(await stopDemo(demo)).toBe(0);
      demo = await startDemoProcess();
      expect(boxAccounts(demo.output)).toEqual([river]);
      expect(demo.output).toContain('The demo user "demo" already exists');
      expect(readFileSync(join(dir, 'data', 'demo-provider', 'keys.json'), 'utf8')).toBe(keys);
      const again = await toGateway('/api/profile/v1/me', { cookie: session, 'x-csrf': '1' });
      expect([again.status, JSON.parse(again.text).tokenOwner?.sub]).toEqual([200, 'river-0001']);
    } finally {
      expect(await stopDemo(demo)).toBe(0);
    }
  });
});
