#!/usr/bin/env node
/**
 * The cluster example (SPEC §8): `node examples/cluster/start.mjs` from the repository root, after
 * `npm ci` (which builds dist/). On this machine, each on a free loopback port and with its data in
 * one temporary folder: a throwaway PostgreSQL 15 and redis-server (scripts/servers/, the tests'
 * launchers), the demo upstream, two `gatehouse serve` nodes (examples/cluster/gatehouse.yaml) and
 * haproxy in front of them (examples/cluster/haproxy.cfg). It creates the user `demo`, prints its
 * password once and haproxy's URL; Ctrl-C or SIGTERM stops everything and removes the folder.
 *
 * `startCluster()` is the same thing as a function, for test/integration/cluster-example.test.ts
 * and bench/cluster.mjs: they kill and restart nodes through what it returns (start.d.mts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort } from '../../scripts/servers/free-port.mjs';
import { startPostgres } from '../../scripts/servers/postgres.mjs';
import { startRedis } from '../../scripts/servers/redis.mjs';
import { startWatchdog } from '../../scripts/servers/watchdog.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(here, '../..');
const haproxyBin = '/usr/sbin/haproxy';
const secretName = 'weather-token';
const nodeNames = ['node-a', 'node-b'];

/**
 * Starts the whole cluster. `dist` is the compiled tree (GATEHOUSE_DIST, else dist/); `nodes` how
 * many serve processes (2; the bench runs 1 too); `config`'s top-level keys replace the template's
 * (the bench's rate rules); `user` is the account created; `upstream` ({ url, token }) one already
 * running instead of the demo upstream (the bench's).
 */
export async function startCluster(options = {}) {
  const dist = resolve(options.dist ?? process.env.GATEHOUSE_DIST ?? join(repoRoot, 'dist'));
  const cli = join(dist, 'src/cli/main.js');
  const count = options.nodes ?? 2;
  const userName = options.user ?? 'demo';
  requireBuilt(cli, dist);
  requireHaproxy();

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const parts = [];
  const stopParts = async () => {
    for (const part of parts.reverse()) await part().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const postgres = await startPostgres();
    parts.push(() => postgres.close());
    const redis = await startRedis();
    parts.push(() => redis.close());
    const env = { PATH: process.env.PATH, DATABASE_URL: await postgres.createDatabase(), REDIS_URL: redis.url };

    // The upstream's bearer token: Gatehouse keeps it (secret set below); no client ever sees it.
    const token = options.upstream?.token ?? randomBytes(32).toString('base64url');
    let upstream = options.upstream;
    if (!upstream) {
      const { startDemoUpstream } = await import(pathToFileURL(join(dist, 'demo/upstream/server.js')).href);
      const demo = await startDemoUpstream({ host: '127.0.0.1', port: 0, token });
      parts.push(() => demo.close());
      upstream = demo;
    }

    writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const haproxyPort = await freePort();
    const url = `http://127.0.0.1:${haproxyPort}`;
    const template = readFileSync(join(here, 'gatehouse.yaml'), 'utf8');
    const nodes = [];
    for (const name of nodeNames.slice(0, count)) {
      const port = await freePort();
      const configFile = join(dir, `${name}.yaml`);
      const yaml = fill(template, { PORT: String(port), PUBLIC_ORIGIN: url, UPSTREAM: upstream.url, SITE: join(repoRoot, 'demo/site') });
      writeFileSync(configFile, options.config ? stringify({ ...parse(yaml), ...options.config }) : yaml);
      nodes.push(node({ name, port, configFile, cli, env, dir }));
    }

    const run = (args, input) => {
      const result = spawnSync(process.execPath, [cli, ...args, '--config', nodes[0].configFile], { env, input, encoding: 'utf8', timeout: 60_000 });
      if (result.status !== 0) throw new Error(`gatehouse ${args.slice(0, 2).join(' ')} failed: ${result.stderr.trim()}`);
    };
    // The first CLI command applies the schema's migrations; serve would too (SPEC §8).
    run(['secret', 'set', secretName], token);
    const password = randomBytes(18).toString('base64url');
    run(['user', 'add', userName, '--role', 'user', '--password-stdin'], `${password}\n`);

    for (const n of nodes) parts.push(() => n.stop());
    await Promise.all(nodes.map((n) => n.start()));

    const haproxy = await startHaproxy({ dir, port: haproxyPort, nodes });
    parts.push(() => haproxy.stop());

    return {
      url,
      user: { name: userName, password },
      dir,
      env,
      nodes,
      haproxy,
      postgres,
      redis,
      upstream: upstream.url,
      /** Runs a CLI command against the cluster (as an operator would, with node-a's config). */
      gatehouse: (args, input = '') => spawnSync(process.execPath, [cli, ...args, '--config', nodes[0].configFile], { env, input, encoding: 'utf8', timeout: 60_000 }),
      stop: stopParts,
    };
  } catch (error) {
    await stopParts();
    throw error;
  }
}

/** `${NAME}` → values[NAME]; a placeholder left unfilled is a mistake in the template. */
function fill(template, values) {
  return template.replace(/\$\{([A-Z_]+)\}/g, (whole, key) => {
    if (!Object.hasOwn(values, key)) throw new Error(`no value for ${whole} in the cluster example's template`);
    return values[key];
  });
}

function requireBuilt(cli, dist) {
  if (!existsSync(cli) || !existsSync(join(dist, 'demo/upstream/server.js'))) {
    throw new Error(`${dist} holds no build of Gatehouse: run "npm ci" (or "npm run build") first.`);
  }
}

function requireHaproxy() {
  try {
    accessSync(haproxyBin, constants.X_OK);
  } catch {
    throw new Error(`haproxy is not installed (${haproxyBin} is missing): as root, "apt-get install -y haproxy".`);
  }
}

/** One `gatehouse serve` process: its JSON-lines log goes to NAME.log in the folder. */
function node({ name, port, configFile, cli, env, dir }) {
  const logFile = join(dir, `${name}.log`);
  const pidFile = join(dir, `${name}.pid`);
  let child = null;
  let watchdog = null;
  const exited = () => child === null || child.exitCode !== null || child.signalCode !== null;
  const handle = {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    configFile,
    get pid() {
      return child?.pid ?? null;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    /** Starts serve and resolves once its /readyz answers 200. */
    async start() {
      if (!exited()) return;
      const out = openSync(logFile, 'a');
      child = spawn(process.execPath, [cli, 'serve', '--config', configFile], { env, stdio: ['ignore', out, out] });
      closeSync(out);
      writeFileSync(pidFile, `${child.pid}\n`);
      // Should this process die without stopping it (SIGKILL), the node goes too.
      watchdog?.stop();
      watchdog = startWatchdog({ pidFile, remove: pidFile });
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (exited()) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${handle.log().slice(-2000)}`);
        if ((await status(`${handle.url}/readyz`)) === 200) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${name} was not ready within 60 s:\n${handle.log().slice(-2000)}`);
    },
    /** SIGTERM (serve drains in-flight requests), SIGKILL after 10 s; or `signal` and wait for the exit. */
    async stop(signal = 'SIGTERM') {
      if (exited()) return;
      const gone = once(child, 'exit');
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
      watchdog?.stop();
      watchdog = null;
    },
  };
  return handle;
}

async function status(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** haproxy in the foreground (-db), checked first (-c) so a bad template says why. */
async function startHaproxy({ dir, port, nodes }) {
  const configFile = join(dir, 'haproxy.cfg');
  const socket = join(dir, 'haproxy.sock');
  const pidFile = join(dir, 'haproxy.pid');
  const [a, b] = nodes;
  let cfg = fill(readFileSync(join(here, 'haproxy.cfg'), 'utf8'), {
    PORT: String(port), STATS_SOCKET: socket, NODE_A_PORT: String(a.port), NODE_B_PORT: String(b?.port ?? 0),
  });
  // One node (the bench's baseline): the second server line goes.
  if (!b) cfg = cfg.split('\n').filter((line) => !/server node-b/.test(line)).join('\n');
  writeFileSync(configFile, cfg);
  const check = spawnSync(haproxyBin, ['-c', '-q', '-f', configFile], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refuses ${configFile}: ${check.stderr || check.stdout}`);
  let output = '';
  const child = spawn(haproxyBin, ['-db', '-f', configFile, '-p', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  const watchdog = startWatchdog({ pidFile, remove: pidFile });
  const haproxy = {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    output: () => output,
    /** Each server's state as haproxy sees it: { 'node-a': 'UP', 'node-b': 'DOWN', … }. */
    states: () => serverStates(socket),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = once(child, 'exit');
        child.kill('SIGTERM');
        await gone;
      }
      watchdog.stop();
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${output}`);
    const states = await serverStates(socket).catch(() => ({}));
    if (nodes.every((n) => states[n.name] === 'UP')) return haproxy;
    if (Date.now() > deadline) {
      await haproxy.stop();
      throw new Error(`haproxy did not see every node UP within 15 s: ${JSON.stringify(states)} ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `show stat` on haproxy's stats socket: CSV, one line per proxy and server; column 18 is the status. */
function serverStates(socket) {
  return new Promise((resolveStates, reject) => {
    const connection = connect(socket);
    let text = '';
    connection.setTimeout(2_000, () => connection.destroy(new Error('haproxy stats socket: no answer')));
    connection.on('error', reject);
    connection.on('connect', () => connection.write('show stat\n'));
    connection.on('data', (c) => { text += c; });
    connection.on('end', () => {
      const states = {};
      for (const line of text.split('\n')) {
        const fields = line.split(',');
        if (fields[0] === 'nodes' && fields[1] !== 'BACKEND') states[fields[1]] = fields[17];
      }
      resolveStates(states);
    });
  });
}

function box(lines) {
  const width = Math.max(...lines.map((l) => l.length));
  const edge = `+${'-'.repeat(width + 2)}+`;
  return [edge, ...lines.map((l) => `| ${l.padEnd(width)} |`), edge].join('\n');
}

async function main() {
  console.log('Starting PostgreSQL, Redis, the demo upstream, two Gatehouse nodes and haproxy…');
  const cluster = await startCluster();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping everything and removing its data…');
    cluster.stop().then(() => process.exit(0), (error) => {
      console.error(`Stopping failed: ${error?.message ?? error}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  console.log('');
  console.log(box([
    'User created. This password is shown ONCE:',
    '',
    `  user:      ${cluster.user.name}`,
    `  password:  ${cluster.user.password}`,
  ]));
  console.log('');
  console.log(`Gatehouse cluster (haproxy): ${cluster.url}`);
  for (const n of cluster.nodes) console.log(`  ${n.name}: ${n.url} (pid ${n.pid}, log ${join(cluster.dir, `${n.name}.log`)})`);
  console.log(`  PostgreSQL: 127.0.0.1:${cluster.postgres.port}   Redis: ${cluster.redis.url}   demo upstream: ${cluster.upstream}`);
  console.log(`  data: ${cluster.dir}`);
  console.log('The CLI against the cluster, e.g.:');
  console.log(`  DATABASE_URL=${cluster.env.DATABASE_URL} REDIS_URL=${cluster.env.REDIS_URL} \\\n    node dist/src/cli/main.js session list --config ${cluster.nodes[0].configFile}`);
  console.log('Ctrl-C stops everything and removes the data.');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`The cluster example could not start: ${error?.message ?? error}`);
    process.exit(1);
  });
}
