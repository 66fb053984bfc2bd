/**
 * Contender N: nginx `auth_request` → a Node session check → `proxy_pass`. This process is the
 * session checker (node:http: 204 when the request's cookie names a session in a Map, 401
 * otherwise) and runs nginx itself: it writes an nginx.conf into a temp dir (worker_processes 1,
 * listening on 127.0.0.1 only, keep-alive pools to the checker and the upstream, access log off)
 * and starts `nginx -p <dir> -c nginx.conf -g 'daemon off;'`. nginx asks the checker in a
 * subrequest (cookie passed, body not), then forwards /api/<rest> → upstream /<rest> with the
 * cookie and CSRF headers removed and the bearer added.
 * It answers `cpu` with the CPU time and RSS of all three processes (checker + nginx master +
 * worker, read from /proc), and reports nginx's pids in `ready.pids` so a watchdog can kill them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchSecret, cookieName, readCookie, serveAsChild } from '../lib/child.mjs';
import { childPids, cpuWith, freePort, killPid } from '../lib/processes.mjs';

const upstream = new URL(process.env.BENCH_UPSTREAM);
const token = randomBytes(32).toString('base64url');
const sessions = new Map([[token, { user: 'bench' }]]);

const checker = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  const session = sessions.get(readCookie(req.headers.cookie, cookieName) ?? '');
  res.writeHead(session ? 204 : 401);
  res.end();
});
await new Promise((resolve) => checker.listen(0, '127.0.0.1', resolve));
const checkerPort = checker.address().port;
const port = await freePort();

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-nginx-'));
// nginx workers run as `nobody` when the master is root: they must be able to enter the dir.
chmodSync(dir, 0o755);
for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', sub), { recursive: true });
writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  upstream api { server ${upstream.host}; keepalive 128; keepalive_requests 1000000; }
  upstream session_check { server 127.0.0.1:${checkerPort}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    location /api/ {
      auth_request /_session;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Cookie "";
      proxy_set_header X-CSRF "";
      proxy_set_header Authorization "Bearer ${benchSecret}";
      # room for a 64 KiB response in memory, no temp files
      proxy_buffer_size 16k;
      proxy_buffers 16 8k;
      proxy_pass http://api/;
    }
    location = /_session {
      internal;
      proxy_pass http://session_check/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-CSRF "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location / { return 404; }
  }
}
`);

const tested = spawnSync('nginx', ['-t', '-q', '-p', dir, '-c', 'nginx.conf', '-e', 'error.log'], { encoding: 'utf8', timeout: 10_000 });
if (tested.status !== 0) throw new Error(`nginx -t failed: ${tested.stderr}`);
const nginx = spawn('nginx', ['-p', dir, '-c', 'nginx.conf', '-e', 'error.log', '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
let nginxExited = false;
nginx.once('exit', () => {
  nginxExited = true;
});
await waitForPort(port, 10_000);
const pids = () => [nginx.pid, ...childPids(nginx.pid)];

serveAsChild({ url: `http://127.0.0.1:${port}`, cookie: `${cookieName}=${token}`, pids: pids() }, async () => {
  if (!nginxExited) {
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    nginx.kill('SIGTERM');
    const timer = setTimeout(() => pids().forEach((pid) => killPid(pid)), 3_000);
    await exited;
    clearTimeout(timer);
  }
  checker.closeAllConnections();
  await new Promise((resolve) => checker.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
}, {
  cpu: () => cpuWith(pids()),
});

async function waitForPort(target, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (nginxExited) throw new Error(`nginx exited: ${safeRead(join(dir, 'error.log'))}`);
    const ok = await new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: target }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('nginx did not listen within the time allowed');
}

function safeRead(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
