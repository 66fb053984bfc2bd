/**
 * The cluster example (examples/cluster/start.mjs) as a bench contender (bench/cluster.mjs, issue 11
 * item 8): BENCH_NODES (1 or 2) `gatehouse serve` nodes on a PostgreSQL and a redis-server of their
 * own, behind haproxy, in front of BENCH_UPSTREAM (bench/http-layer/upstream.mjs) instead of the demo
 * upstream, with BENCH_LIMITS as the rate rules. `ready.url` is haproxy's, the session comes from the
 * real /auth/login through it. `cpu` sums the nodes and haproxy (read from /proc); PostgreSQL's and
 * Redis's CPU time is not in it.
 */
import { startCluster } from '../../examples/cluster/start.mjs';
import { benchSecret, cookieName, serveAsChild } from '../lib/child.mjs';
import { cpuWith } from '../lib/processes.mjs';

const nodes = Number(process.env.BENCH_NODES ?? 2);
const cluster = await startCluster({
  nodes,
  user: 'bench',
  upstream: { url: process.env.BENCH_UPSTREAM, token: benchSecret },
  config: { limits: JSON.parse(process.env.BENCH_LIMITS ?? '[]') },
});
try {
  const response = await fetch(`${cluster.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify({ username: cluster.user.name, password: cluster.user.password }),
  });
  const setCookie = response.headers.get('set-cookie') ?? '';
  if (response.status !== 200 || !setCookie.startsWith(`${cookieName}=`)) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  const pids = () => [...cluster.nodes.map((n) => n.pid), cluster.haproxy.pid].filter((pid) => pid !== null);
  serveAsChild({ url: cluster.url, cookie: setCookie.split(';', 1)[0], pids: pids(), nodes }, () => cluster.stop(), {
    cpu: () => cpuWith(pids(), { self: false }),
  });
} catch (error) {
  await cluster.stop();
  throw error;
}
