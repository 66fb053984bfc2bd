import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchRequirements, isInstalled, plan, requirements, type Requirement } from '../../scripts/test-programs.mjs';

const script = join(import.meta.dirname, '../../scripts/test-programs.mjs');
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-programs-'));
  dirs.push(dir);
  return dir;
}

const chromium = requirements.find((r) => r.command === 'chromium') as Requirement;
const testssl = requirements.find((r) => r.command === 'testssl') as Requirement;

describe('the system programs npm test needs (SPEC §1)', () => {
  it('names every program a test drives, each with its Debian package', () => {
    expect(requirements.map((r) => [r.command, r.pkg])).toEqual(expect.arrayContaining([
      ['chromium', 'chromium'], ['testssl', 'testssl.sh'], ['openssl', 'openssl'],
      ['initdb', 'postgresql-15'], ['pg_ctl', 'postgresql-15'], ['postgres', 'postgresql-15'],
      ['redis-server', 'redis-server'], ['haproxy', 'haproxy'],
    ]));
  });

  it('looks for PostgreSQL 15, redis-server and haproxy where Debian puts them, which is where the test helpers run them', () => {
    const paths = Object.fromEntries(requirements.map((r) => [r.command, r.path]));
    expect(paths).toMatchObject({
      initdb: '/usr/lib/postgresql/15/bin/initdb',
      pg_ctl: '/usr/lib/postgresql/15/bin/pg_ctl',
      postgres: '/usr/lib/postgresql/15/bin/postgres',
      'redis-server': '/usr/bin/redis-server',
      haproxy: '/usr/sbin/haproxy',
    });
  });

  it('installs one package for the PostgreSQL binaries and names their use once when it cannot', () => {
    const postgres = requirements.filter((r) => r.pkg === 'postgresql-15');
    expect(postgres.map((r) => r.command)).toEqual(['initdb', 'pg_ctl', 'postgres']);
    expect(plan({ missing: postgres, isRoot: true, hasAptGet: true, canUseSudo: () => false }))
      .toEqual({ action: 'install', packages: ['postgresql-15'], sudo: false });
    const decision = plan({ missing: postgres, isRoot: false, hasAptGet: false, canUseSudo: () => false });
    expect(decision.action === 'stop' && decision.message).toContain('npm test needs initdb, pg_ctl, postgres (PostgreSQL tests), which');
    expect(decision.action === 'stop' && decision.message).toContain('apt-get install -y postgresql-15"');
  });

  it('does nothing when everything is there', () => {
    expect(plan({ missing: [], isRoot: false, hasAptGet: false, canUseSudo: () => false })).toEqual({ action: 'none' });
  });

  it('installs what is missing, as root with apt-get, without sudo', () => {
    expect(plan({ missing: [chromium, testssl], isRoot: true, hasAptGet: true, canUseSudo: () => { throw new Error('not asked as root'); } }))
      .toEqual({ action: 'install', packages: ['chromium', 'testssl.sh'], sudo: false });
  });

  it('installs through password-less sudo when not root', () => {
    expect(plan({ missing: [testssl], isRoot: false, hasAptGet: true, canUseSudo: () => true }))
      .toEqual({ action: 'install', packages: ['testssl.sh'], sudo: true });
  });

  it('stops with one sentence naming the packages when it cannot install', () => {
    for (const situation of [{ isRoot: false, hasAptGet: true }, { isRoot: true, hasAptGet: false }]) {
      const decision = plan({ missing: [chromium, testssl], ...situation, canUseSudo: () => false });
      expect(decision.action).toBe('stop');
      if (decision.action !== 'stop') return;
      expect(decision.message).toContain('apt-get install -y chromium testssl.sh');
      expect(decision.message.split('\n')).toHaveLength(1);
      // One sentence: a single full stop, at the end.
      expect(decision.message.replace(/"[^"]*"/g, '').match(/\./g)).toEqual(['.']);
      expect(decision.message.endsWith('.')).toBe(true);
    }
  });

  it('finds a program on PATH only when it is an executable file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'testssl'), '#!/bin/sh\n');
    expect(isInstalled({ command: 'testssl' }, dir)).toBe(false);
    chmodSync(join(dir, 'testssl'), 0o755);
    expect(isInstalled({ command: 'testssl' }, `/nonexistent:${dir}`)).toBe(true);
    expect(isInstalled({ command: 'openssl' }, dir)).toBe(false);
  });

  it('run where nothing can be installed, exits 1 at once with one line on stderr naming the packages', () => {
    // PATH holds only an empty folder: no apt-get, no sudo, no openssl, no testssl.
    const result = spawnSync(process.execPath, [script], { env: { PATH: tempDir() }, encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/sudo apt-get install -y .*openssl/);
    expect(lines[0]).toContain('testssl.sh');
  });

  it('for the benchmarks, names wrk, nginx and the cluster bench\'s servers, and says npm run bench when it cannot install them', () => {
    expect(benchRequirements.map((r) => [r.command, r.pkg])).toEqual(expect.arrayContaining([
      ['wrk', 'wrk'], ['nginx', 'nginx-light'], ['initdb', 'postgresql-15'], ['redis-server', 'redis-server'], ['haproxy', 'haproxy'],
    ]));
    const result = spawnSync(process.execPath, [script, 'bench'], { env: { PATH: tempDir() }, encoding: 'utf8', timeout: 10_000 });
    if (benchRequirements.every((r) => isInstalled(r, ''))) {
      // Everything is at its absolute path already: nothing to do.
      expect(result.status).toBe(0);
    } else {
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^npm run bench needs .*, and run npm run bench again\.\n$/);
    }
    const missingNginx = plan({ missing: benchRequirements.filter((r) => r.command === 'nginx'), isRoot: false, hasAptGet: false, canUseSudo: () => false, command: 'npm run bench' });
    expect(missingNginx.action === 'stop' && missingNginx.message).toBe('npm run bench needs nginx (the nginx auth_request contender), which it cannot install here without root or password-less sudo and apt-get, so install them with "sudo apt-get install -y nginx-light" and run npm run bench again.');
  });

  it('refuses a purpose it does not know, exit 2', () => {
    const result = spawnSync(process.execPath, [script, 'benchmark'], { encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('the purpose is test or bench, not "benchmark"');
  });
});
