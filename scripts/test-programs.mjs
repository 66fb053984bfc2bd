#!/usr/bin/env node
/**
 * The system programs `npm test` drives, installed when missing (SPEC §1): the test command runs this
 * first, so a fresh machine needs only `npm ci && npm test`. `npm run bench` runs it with `bench` for
 * the programs the benchmarks drive (wrk, nginx, and PostgreSQL, Redis and haproxy for the cluster
 * part). Missing programs are installed from
 * Debian's packages when this process can (root, or password-less sudo, with apt-get); otherwise it
 * stops at once, before any compiling or testing, with one sentence naming the packages.
 *
 * Plain JavaScript, no dependencies: it runs before TypeScript is compiled.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * What the tests run, and the Debian package that provides it. `path` is where a test looks for it
 * when the test names an absolute path (playwright-core is given /usr/bin/chromium).
 */
export const requirements = [
  { command: 'chromium', path: '/usr/bin/chromium', pkg: 'chromium', usedBy: 'browser tests' },
  { command: 'openssl', pkg: 'openssl', usedBy: 'TLS certificates' },
  { command: 'testssl', pkg: 'testssl.sh', usedBy: 'TLS scan' },
  // Debian's postgresql-15 holds the server binaries; the `postgresql` metapackage only depends on it.
  // Installing it may create and start a system cluster on 5432 (and redis-server a service on 6379):
  // the tests leave those alone, as they start their own servers on free ports (test/helpers/).
  { command: 'initdb', path: '/usr/lib/postgresql/15/bin/initdb', pkg: 'postgresql-15', usedBy: 'PostgreSQL tests' },
  { command: 'pg_ctl', path: '/usr/lib/postgresql/15/bin/pg_ctl', pkg: 'postgresql-15', usedBy: 'PostgreSQL tests' },
  { command: 'postgres', path: '/usr/lib/postgresql/15/bin/postgres', pkg: 'postgresql-15', usedBy: 'PostgreSQL tests' },
  { command: 'redis-server', path: '/usr/bin/redis-server', pkg: 'redis-server', usedBy: 'Redis tests' },
  { command: 'haproxy', path: '/usr/sbin/haproxy', pkg: 'haproxy', usedBy: 'cluster example' },
];

/** What `npm run bench` drives: the load generator, the nginx contender, and the cluster bench's servers. */
export const benchRequirements = [
  { command: 'wrk', path: '/usr/bin/wrk', pkg: 'wrk', usedBy: 'load generator' },
  { command: 'nginx', path: '/usr/sbin/nginx', pkg: 'nginx-light', usedBy: 'the nginx auth_request contender' },
  ...requirements.filter((r) => r.pkg === 'postgresql-15' || r.pkg === 'redis-server' || r.pkg === 'haproxy').map((r) => ({ ...r, usedBy: 'cluster bench' })),
];

/** The requirements and the command named in messages, for `node test-programs.mjs [bench]`. */
export const purposes = {
  test: { list: requirements, command: 'npm test' },
  bench: { list: benchRequirements, command: 'npm run bench' },
};

/** Whether `command` is an executable file on `pathList` (or at its absolute `path`). */
export function isInstalled(requirement, pathList) {
  const candidates = requirement.path ? [requirement.path] : pathList.split(delimiter).filter(Boolean).map((dir) => join(dir, requirement.command));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * What to do, as a value: nothing, install `packages` (with `sudo` in front when not root), or stop
 * with `message`. `canUseSudo` is asked only when it matters.
 */
export function plan({ missing, isRoot, hasAptGet, canUseSudo, command = 'npm test' }) {
  if (missing.length === 0) return { action: 'none' };
  const packages = [...new Set(missing.map((r) => r.pkg))];
  if (hasAptGet && isRoot) return { action: 'install', packages, sudo: false };
  if (hasAptGet && canUseSudo()) return { action: 'install', packages, sudo: true };
  return { action: 'stop', packages, message: stopMessage(missing, packages, command) };
}

export function stopMessage(missing, packages, command = 'npm test') {
  // One mention per use: "initdb, pg_ctl, postgres (PostgreSQL tests)", not the use three times.
  const byUse = new Map();
  for (const r of missing) byUse.set(r.usedBy, [...(byUse.get(r.usedBy) ?? []), r.command]);
  const what = [...byUse].map(([usedBy, commands]) => `${commands.join(', ')} (${usedBy})`).join(', ');
  return `${command} needs ${what}, which it cannot install here without root or password-less sudo and apt-get, so install them with "sudo apt-get install -y ${packages.join(' ')}" and run ${command} again.`;
}

function run(argv, sudo) {
  const [file, ...args] = sudo ? ['sudo', '-n', ...argv] : argv;
  const result = spawnSync(file, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return result.status === 0;
}

function main(purposeName) {
  const purpose = purposes[purposeName];
  if (!purpose) {
    process.stderr.write(`test-programs: the purpose is ${Object.keys(purposes).join(' or ')}, not ${JSON.stringify(purposeName)}\n`);
    return 2;
  }
  const { list, command } = purpose;
  const pathList = process.env.PATH ?? '';
  const missing = list.filter((r) => !isInstalled(r, pathList));
  const decision = plan({
    missing,
    command,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    hasAptGet: isInstalled({ command: 'apt-get' }, pathList),
    canUseSudo: () => isInstalled({ command: 'sudo' }, pathList) && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0,
  });
  if (decision.action === 'none') return 0;
  if (decision.action === 'stop') {
    process.stderr.write(`${decision.message}\n`);
    return 1;
  }
  process.stdout.write(`test-programs: installing ${decision.packages.join(' ')} with apt-get (missing: ${missing.map((r) => r.command).join(', ')})\n`);
  const installed = run(['apt-get', 'update'], decision.sudo) && run(['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', ...decision.packages], decision.sudo);
  const still = list.filter((r) => !isInstalled(r, pathList));
  if (!installed || still.length > 0) {
    const packages = [...new Set(still.map((r) => r.pkg))];
    process.stderr.write(`${command} could not install ${(packages.length ? packages : decision.packages).join(' ')} with apt-get (see its output above); install them and run ${command} again.\n`);
    return 1;
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv[2] ?? 'test');
