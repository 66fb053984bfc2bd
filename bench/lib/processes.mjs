/**
 * Bench children that run other processes (nginx and its worker: bench/http-layer/server-nginx.mjs;
 * `gatehouse serve` and its cluster workers: server-gatehouse-serve.mjs) answer `cpu` for all of
 * them, read from /proc, and need a port before the server that takes it starts.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** CPU time (µs; /proc counts in clock ticks of 10 ms) and RSS (bytes) of one process; zeros once it is gone. */
export function processStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rssPages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return { cpuUs: ticks * 10_000, rss: rssPages * 4096 };
  } catch {
    return { cpuUs: 0, rss: 0 };
  }
}

/**
 * The CPU time and RSS of `pids` summed, with this process's own unless `self` is false, in the
 * shape of child.mjs's `cpu` answer (all of it counted as user time).
 */
export function cpuWith(pids, { self = true } = {}) {
  const own = process.cpuUsage();
  let cpuUs = self ? own.user + own.system : 0;
  let rss = self ? process.memoryUsage().rss : 0;
  for (const pid of pids) {
    const stat = processStats(pid);
    cpuUs += stat.cpuUs;
    rss += stat.rss;
  }
  return { usage: { user: cpuUs, system: 0 }, rss };
}

/** The direct children of a process (its main thread's), [] once it is gone. */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function killPid(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** A loopback port free right now (the server that takes it is started next). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
}
