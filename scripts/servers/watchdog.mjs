import { spawn } from 'node:child_process';

/**
 * What to undo when the process that started a server is gone without closing it: vitest ends a
 * worker with a signal, a test file that crashed never reaches afterAll, and the cluster example may
 * get SIGKILL, so no `exit` hook of theirs would run.
 */

// Run with `node -e`: a string, so the watchdog needs no file of its own beside this one.
const source = `
const { readFileSync, readdirSync, rmSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const parent = Number(process.argv[1]);
const plan = JSON.parse(process.argv[2]);
const signal = (pid, sig) => { try { process.kill(pid, sig); } catch {} };
function cleanup() {
  let pid = 0;
  try { pid = Number(readFileSync(plan.pidFile, 'utf8').split('\\n')[0]); } catch {}
  if (pid > 0) {
    signal(pid, 'SIGCONT');
    if (plan.thawChildren) for (const e of readdirSync('/proc')) {
      try { const s = readFileSync('/proc/' + e + '/stat', 'utf8'); if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) signal(Number(e), 'SIGCONT'); } catch {}
    }
    if (plan.stop) spawnSync(plan.stop[0], plan.stop.slice(1), { stdio: 'ignore', timeout: 30000 });
    else signal(pid, 'SIGKILL');
  }
  rmSync(plan.remove, { recursive: true, force: true });
}
setInterval(() => {
  try { process.kill(parent, 0); } catch { cleanup(); process.exit(0); }
}, 500);
`;

/** Starts a detached process that cleans up after `plan` once this process has died; `stop` it on a normal close. */
export function startWatchdog(plan) {
  const child = spawn(process.execPath, ['-e', source, String(process.pid), JSON.stringify(plan)], { detached: true, stdio: 'ignore' });
  child.unref();
  return { stop: () => { child.kill('SIGKILL'); } };
}
