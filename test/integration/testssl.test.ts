import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpsGateway, type HttpsGateway } from '../helpers/https-gateway.js';

/**
 * testssl.sh (Debian package `testssl.sh`, command `testssl`; npm test installs it: scripts/test-programs.mjs) against the
 * HTTPS listener: no finding rated HIGH or CRITICAL. Its default run: protocols, cipher
 * categories, forward secrecy, server preferences and defaults, the certificate, HTTP headers,
 * known vulnerabilities and client simulations. Offline: no DNS (`--nodns none`, `--ip`), and
 * revocation is not fetched (no `--phone-out`). Missing testssl fails this test: it never skips.
 */

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** Kills the scan after this long: a bound on the test, whatever testssl does. */
const scanLimitMs = 180_000;

let https: HttpsGateway;
let dir: string;
beforeAll(async () => {
  https = await startHttpsGateway();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-testssl-'));
});
afterAll(async () => {
  await https?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runTestssl(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('testssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TERM: 'dumb' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), scanLimitMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new Error('testssl is not installed: apt-get install -y testssl.sh (npm test does this when it can: scripts/test-programs.mjs)') : error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') reject(new Error(`testssl did not finish within ${scanLimitMs / 1000} s:\n${output.slice(-2000)}`));
      else resolve({ code, output });
    });
  });
}

describe('testssl.sh against the HTTPS listener', () => {
  it('reports no finding rated HIGH or CRITICAL', async () => {
    const jsonFile = join(dir, 'findings.json');
    const { output } = await runTestssl([
      '--quiet', '--color', '0', '--warnings', 'off',
      '--openssl-timeout', '5', '--connect-timeout', '5',
      '--nodns', 'none', '--ip', '127.0.0.1',
      // The certificate is issued by a CA made for this run: trusting it is what a real deployment's
      // public CA gives, so chain-of-trust findings describe the listener, not the test setup.
      '--add-ca', https.ca.cert,
      '--jsonfile', jsonFile,
      https.origin,
    ]);
    if (!existsSync(jsonFile)) throw new Error(`testssl wrote no findings:\n${output.slice(-3000)}`);
    const findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[];

    // The scan really reached the listener (a failed connection yields a FATAL scanProblem only).
    const byId = new Map(findings.map((f) => [f.id, f]));
    expect(byId.get('TLS1_2')?.finding).toBe('offered');
    expect(byId.get('TLS1_3')?.finding).toMatch(/^offered/);
    expect(byId.get('TLS1')?.finding).toBe('not offered');
    expect(byId.get('TLS1_1')?.finding).toBe('not offered');
    expect(byId.get('HSTS_time')?.severity).toBe('OK');

    const serious = findings.filter((f) => ['HIGH', 'CRITICAL', 'FATAL'].includes(f.severity));
    expect(serious, `testssl findings rated HIGH/CRITICAL:\n${serious.map((f) => `${f.severity} ${f.id}: ${f.finding}`).join('\n')}`).toEqual([]);
  }, scanLimitMs + 60_000);
});
