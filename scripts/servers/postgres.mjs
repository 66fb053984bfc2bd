import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, appendFileSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requirements } from '../test-programs.mjs';
import { freePort } from './free-port.mjs';
import { startWatchdog } from './watchdog.mjs';

/**
 * A throwaway PostgreSQL 15 server (SPEC §1: tests never touch a server that was already running;
 * the cluster example starts its own too): a fresh data folder under the system's temporary folder,
 * 127.0.0.1 and a free port only, its unix socket inside that folder, trust authentication, fsync
 * off. Debian's binaries are run as an unprivileged user, since initdb and postgres refuse root.
 * What it returns is described in postgres.d.mts.
 */

const program = (command) => {
  const path = requirements.find((r) => r.command === command)?.path;
  if (!path) throw new Error(`test-programs.mjs names no path for ${command}`);
  return path;
};
const initdb = program('initdb');
const pgCtl = program('pg_ctl');
const postgresBin = program('postgres');

/** Throws (never skips) when the binaries are missing: a PostgreSQL test must not pass silently. */
export function assertPostgresInstalled(files = [initdb, pgCtl, postgresBin]) {
  for (const file of files) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new Error(`PostgreSQL 15 is not installed (${file} is missing): npm test installs it (scripts/test-programs.mjs), or run "apt-get install -y postgresql-15".`);
    }
  }
}

/** Root runs the server as `postgres` (made by Debian's package) or else `nobody`; anyone else as themselves. */
function serverOwner() {
  if (process.getuid?.() !== 0) return { name: null, uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { name, uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  throw new Error('Neither a postgres nor a nobody user exists to run PostgreSQL as (initdb refuses root).');
}

const asOwner = (owner, argv) => (owner.name ? ['runuser', '-u', owner.name, '--', ...argv] : argv);

/**
 * Runs a command to its end without blocking the event loop (a fault test may be driving load from
 * this process while the server restarts). Bounded by `timeoutMs`.
 */
function run(argv, timeoutMs = 60_000) {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (c) => { output += c.toString(); });
    child.stderr.on('data', (c) => { output += c.toString(); });
    const timer = setTimeout(() => {
      output += `\n(${argv.join(' ')} killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => { output += String(error); });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, output });
    });
  });
}

const runAs = (owner, argv, timeoutMs) => run(asOwner(owner, argv), timeoutMs);

function ownedTempDir(owner, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (owner.name) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

const initdbArgs = ['--no-sync', '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-instructions'];

// Tests only: no password anywhere, and nothing listens beyond loopback (listen_addresses below);
// the socket sits in a 0700 folder of the server's owner.
const hba = 'local all all trust\nhost all all 127.0.0.1/32 trust\n';

// No fsync: a throwaway server need not survive a power cut, only a crash of its own processes, which
// the operating system's page cache covers. synchronous_commit stays on: with it off, an immediate
// stop (the helper's `restart`) would lose the last commits, and a fault test would see data vanish.
const speed = "listen_addresses = '127.0.0.1'\nfsync = off\nfull_page_writes = off\n";

/**
 * initdb costs 0.7 to 2 s on these machines, a copy of its result under 0.2 s, so the first server
 * on a machine makes a template and every server starts from a copy of it. Its name carries what
 * would change its content; it is made in a folder of its own and renamed into place, so a
 * concurrent test file sees either none or a whole one.
 */
async function template(owner) {
  const id = `${statSync(initdb).mtimeMs}|${initdbArgs.join(' ')}|${hba}|${speed}`;
  const key = createHash('sha256').update(id).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `gatehouse-postgres-template-${owner.uid}-${key}`);
  if (existsSync(join(dir, 'data', 'PG_VERSION'))) return dir;
  const building = ownedTempDir(owner, 'gatehouse-postgres-template-building-');
  const made = await runAs(owner, [initdb, ...initdbArgs, '-D', join(building, 'data')]);
  if (!made.ok) {
    rmSync(building, { recursive: true, force: true });
    throw new Error(`initdb failed: ${made.output}`);
  }
  writeFileSync(join(building, 'data', 'pg_hba.conf'), hba);
  appendFileSync(join(building, 'data', 'postgresql.conf'), `\n# gatehouse tests\n${speed}`);
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another test file was quicker
  }
  return dir;
}

function postmasterPid(dataDir) {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('postmaster.pid holds no pid');
  return pid;
}

/** The postmaster's children (backends, checkpointer, …): each is its own session leader, so a group signal misses them. */
function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

const signal = (pid, sig) => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

export async function startPostgres() {
  assertPostgresInstalled();
  const owner = serverOwner();
  let source = await template(owner);
  const root = ownedTempDir(owner, 'gatehouse-postgres-');
  const dataDir = join(root, 'data');
  const logFile = join(root, 'server.log');
  const copy = async () => {
    rmSync(dataDir, { recursive: true, force: true });
    // cp -a keeps the owner and the 0700 mode postgres insists on.
    const copied = await run(['cp', '-a', join(source, 'data'), dataDir]);
    if (!copied.ok) throw new Error(`copying the PostgreSQL template failed: ${copied.output}`);
  };
  const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  let port = 0;
  let frozen = [];
  let running = false;

  const pgStart = () =>
    runAs(owner, [pgCtl, 'start', '-w', '-t', '30', '-D', dataDir, '-l', logFile]);
  const pgStop = async () => {
    thaw();
    if (existsSync(join(dataDir, 'postmaster.pid'))) await runAs(owner, [pgCtl, 'stop', '-w', '-m', 'immediate', '-D', dataDir], 30_000);
    running = false;
  };
  const thaw = () => {
    for (const pid of frozen) signal(pid, 'SIGCONT');
    frozen = [];
  };
  // A test file that died before afterAll must not leave a postmaster behind (pg_ctl detaches it from us).
  const watchdog = startWatchdog({
    pidFile: join(dataDir, 'postmaster.pid'),
    thawChildren: true,
    stop: asOwner(owner, [pgCtl, 'stop', '-w', '-m', 'immediate', '-D', dataDir]),
    remove: root,
  });
  const remove = async () => {
    await pgStop();
    rmSync(root, { recursive: true, force: true });
    watchdog.stop();
  };

  const listen = (chosen) => {
    appendFileSync(join(dataDir, 'postgresql.conf'), `port = ${chosen}\nunix_socket_directories = '${root}'\n`);
  };

  await copy();
  let lastFailure = '';
  for (let attempt = 0; attempt < 5 && !running; attempt += 1) {
    port = await freePort();
    listen(port);
    const started = await pgStart();
    if (started.ok) {
      running = true;
      break;
    }
    lastFailure = `${started.output}\n${readLog()}`;
    // Another process took the port between freePort and bind: pick another one.
    if (/could not bind|Address already in use/i.test(lastFailure)) continue;
    if (attempt === 0) {
      // A template damaged since it was made (a temp cleaner, a disk filling up): make it again, once.
      rmSync(source, { recursive: true, force: true });
      source = await template(owner);
      await copy();
      continue;
    }
    break;
  }
  if (!running) {
    await remove();
    throw new Error(`PostgreSQL did not start: ${lastFailure}`);
  }

  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const admin = async (work) => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };

  const start = async () => {
    if (running) return;
    const started = await pgStart();
    if (!started.ok) throw new Error(`PostgreSQL did not start again on port ${port}: ${started.output}\n${readLog()}`);
    running = true;
  };

  return {
    adminUrl,
    port,
    createDatabase: async () => {
      const name = `gh_${randomBytes(6).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop: pgStop,
    start,
    restart: async () => {
      await pgStop();
      await start();
    },
    freeze: (scope = 'server') => {
      const pid = postmasterPid(dataDir);
      // The postmaster first, so that it forks no new backend after its children are listed.
      signal(pid, 'SIGSTOP');
      frozen.push(pid);
      if (scope === 'postmaster') return;
      const children = childrenOf(pid);
      for (const child of children) signal(child, 'SIGSTOP');
      frozen.push(...children);
    },
    thaw,
    terminateConnections: () =>
      admin(async (c) => {
        const result = await c.query(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        );
        return result.rows[0]?.n ?? 0;
      }),
    log: readLog,
    close: remove,
  };
}
