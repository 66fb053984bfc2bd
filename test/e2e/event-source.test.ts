import { existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultRoutes, SECRET } from '../helpers/gateway.js';
import { login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Chromium's own EventSource against a gateway route (SPEC §10): a `csrf: false` GET route, the
 * session cookie sent by the browser itself, events arriving one by one — the upstream sends the
 * next only once the page has reported the previous one — and an event carrying the secret never
 * reaching the page.
 */

const chromiumPath = '/usr/bin/chromium';
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missingBrowser = `Chromium is missing at ${chromiumPath}. The browser tests need it: install it with "apt-get install -y chromium" (npm test does this when it can: scripts/test-programs.mjs).`;

const env = useGateway({ config: { routes: [{ path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false }, ...defaultRoutes] } });
let browser: Browser | undefined;
let cookie: string;

beforeAll(async () => {
  cookie = await login(env.gw.url);
  if (existsSync(chromiumPath)) browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
});
afterAll(async () => {
  await browser?.close();
});

let context: BrowserContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

/** What the page's EventSource saw, reported through a function the test exposes to it. */
interface Seen {
  messages: string[];
  errors: number;
  /** Resolves once the page has reported `n` messages; bounded, naming the message that did not come. */
  message(n: number): Promise<void>;
}

async function pageWithSession(): Promise<{ page: Page; seen: Seen }> {
  if (!browser) throw new Error(missingBrowser);
  context = await browser.newContext();
  await context.addCookies([{ name: 'gatehouse', value: cookie, url: env.gw.url }]);
  const page = await context.newPage();
  const seen: Seen = {
    messages: [],
    errors: 0,
    message: (n) => expect.poll(() => seen.messages.length, { timeout: 10_000, interval: 20, message: `message ${n} did not reach the page` }).toBeGreaterThanOrEqual(n).then(() => undefined),
  };
  await page.exposeFunction('reportMessage', (data: string) => {
    seen.messages.push(data);
  });
  await page.exposeFunction('reportError', () => {
    seen.errors++;
  });
  // Any page of the gateway's origin makes the stream same-origin, so the browser sends the cookie.
  await page.goto(`${env.gw.url}/healthz`);
  return { page, seen };
}

function openEventSource(page: Page): Promise<void> {
  return page.evaluate(() => {
    const w = window as unknown as { reportMessage(data: string): void; reportError(): void; source?: EventSource };
    const source = new EventSource('/events/feed');
    source.onmessage = (event) => w.reportMessage(String(event.data));
    source.onerror = () => w.reportError();
    w.source = source;
  });
}

/** After the scripted first answer, the upstream ends reconnections with 204 (EventSource then stops). */
function upstreamOnce(script: (res: ServerResponse) => Promise<void>): void {
  let first = true;
  env.upstream.handle((_req, res) => {
    if (!first) {
      res.writeHead(204).end();
      return;
    }
    first = false;
    script(res).catch(() => res.destroy());
  });
}

describe('Chromium EventSource through the gateway', () => {
  it('receives each event before the upstream sends the next, with the session cookie and no X-CSRF', async () => {
    const { page, seen } = await pageWithSession();
    upstreamOnce(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let n = 1; n <= 3; n++) {
        res.write(`data: live ${n}\n\n`);
        await seen.message(n);
      }
      res.end();
    });
    await openEventSource(page);
    for (let n = 1; n <= 3; n++) await seen.message(n);
    expect(seen.messages).toEqual(['live 1', 'live 2', 'live 3']);
    const request = env.upstream.seen[0]!;
    expect(request.headers.accept).toBe('text/event-stream');
    expect(request.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(request.headers.cookie).toBeUndefined();
  });

  it('never shows the page an event carrying the secret: the stream is cut after the clean ones', async () => {
    const { page, seen } = await pageWithSession();
    upstreamOnce(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: clean\n\n');
      await seen.message(1);
      res.write(`data: ${SECRET.slice(0, 10)}`);
      res.write(`${SECRET.slice(10)}\n\ndata: after\n\n`);
      await new Promise<void>((resolve) => res.on('close', resolve));
    });
    await openEventSource(page);
    await seen.message(1);
    await expect.poll(() => seen.errors, { timeout: 10_000, message: 'the stream was not cut' }).toBeGreaterThan(0);
    expect(seen.messages).toEqual(['clean']);
    expect(seen.messages.join('')).not.toContain(SECRET.slice(0, 8));
  });
});
