/**
 * The parent ↔ server protocol shared by every bench process (bench/lib/harness.mjs forks each one
 * with IPC): the child sends `{ type: 'ready', ... }` once listening; the parent may ask
 * `{ type: 'cpu' }` (answered with this process's CPU time and RSS, so cost per request can be
 * computed on a noisy machine), any type the child registered a handler for (answered with `{ type, ...result }`
 * or `{ type, error }`), and ends it with `{ type: 'stop' }`. A child whose parent goes away exits
 * on its own.
 */

/** Upstream URL, session cookie name and bearer secret, identical for every contender. */
export const benchSecret = process.env.BENCH_SECRET ?? 'bench-upstream-secret-7c1e5b2d4a6f8e0c3f9a';
export const cookieName = 'gatehouse';
/** The proxied path the load generator requests; every contender maps /api/<rest> → upstream /<rest>. */
export const benchPath = '/api/items?page=1';

/**
 * Announces readiness and wires up the control messages.
 * @param {Record<string, unknown>} ready what the parent needs (url, cookie, …)
 * @param {() => Promise<void>} stop closes the server; the process then exits
 * @param {Record<string, (message: any) => unknown>} [handlers] extra request types this child answers
 */
export function serveAsChild(ready, stop, handlers = {}) {
  if (!process.send) throw new Error('run this file through a bench runner (bench/run.mjs, bench/http-layer/run.mjs): it needs an IPC channel');
  let stopping = false;
  const exit = (code) => {
    if (stopping) return;
    stopping = true;
    // Bounded: a server that does not close in time is left behind by exiting anyway.
    setTimeout(() => process.exit(code), 5_000).unref();
    stop().then(() => process.exit(code), () => process.exit(1));
  };
  process.on('message', (message) => {
    // A child that runs other processes (the nginx contender) answers `cpu` itself, with theirs summed in.
    if (message?.type === 'cpu' && !Object.hasOwn(handlers, 'cpu')) process.send({ type: 'cpu', usage: process.cpuUsage(), rss: process.memoryUsage().rss });
    else if (message?.type === 'stop') exit(0);
    else if (typeof message?.type === 'string' && Object.hasOwn(handlers, message.type)) {
      Promise.resolve()
        .then(() => handlers[message.type](message))
        .then((result) => process.send({ ...result, type: message.type }), (error) => process.send({ type: message.type, error: String(error?.message ?? error) }));
    }
  });
  process.on('disconnect', () => exit(0));
  process.send({ type: 'ready', ...ready });
}

/** The one cookie value named `name` in a Cookie header, or undefined (no dependency, shared by A and B). */
export function readCookie(header, name) {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
