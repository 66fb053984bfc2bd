import { join } from 'node:path';
import { expect } from 'vitest';

/** The browser tests drive the system's Chromium (playwright-core downloads none). */
export const chromiumPath = '/usr/bin/chromium';
export const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Without the browser every test FAILS with this message; none is skipped. */
export const missingBrowser = `Chromium is missing at ${chromiumPath}. The browser tests need it: install it with "apt-get install -y chromium" (npm test does this when it can: scripts/test-programs.mjs).`;

/**
 * Waits for what the page shows. Generous, because CI runs this beside the whole suite on two
 * cores; a passing check returns as soon as it passes.
 */
export function until<T>(read: () => Promise<T> | T): ReturnType<typeof expect.poll<T>> {
  return expect.poll(read, { timeout: 15_000, interval: 100 });
}

/** Where screenshots go: GATEHOUSE_E2E_SCREENSHOT_DIR to keep them, else `dir` (the test's temp dir). */
export function screenshotPath(dir: string, name: string): string {
  return join(process.env.GATEHOUSE_E2E_SCREENSHOT_DIR ?? dir, name);
}
