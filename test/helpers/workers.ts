import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRaw, type CliRun } from '../cli/harness.js';
import { apiLines, seedStore } from './cluster.js';
import { callOnFreshConnection } from './http.js';
import { freePort, poll, startServe, type ServeProcess } from './processes.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const workersPassword = 'a long enough password';

export interface Workers {
  serve: ServeProcess;
  base: string;
  configFile: string;
  upstream: TestUpstream;
  /** The command tree in this process (run-cli.ts) on the same configuration, as `gatehouse` beside `serve`. */
  cli(args: string[], input?: string): Promise<CliRun>;
  stop(): Promise<void>;
}

export interface WorkersOptions {
  /** Added with `workersPassword`. */
  users?: string[];
  /** More YAML flow items in `upstreams` and `routes`, after the `api` upstream and its `/api/**` route. */
  upstreams?: string[];
  routes?: string[];
  /** YAML lines added to the configuration (limits, login). */
  extra?: string[];
}

/**
 * `gatehouse serve` (the built bin) with `server.workers: 2` on one SQLite file, an upstream, and
 * `/api/**` routed to it with a bearer secret; resolves once both workers listen. node:cluster hands
 * each new connection to the next worker in turn, so requests on connections of their own
 * (callOnFreshConnection) reach both. Its publicOrigin is its own address, as a WebSocket Origin must be.
 */
export async function startWorkers(options: WorkersOptions = {}): Promise<Workers> {
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'));
  const port = await freePort();
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "http://127.0.0.1:${port}", allowedHosts: [127.0.0.1], workers: 2 }`,
    'store: { sqlite: ./gatehouse.db }',
    'masterKey: file:./master.key',
    ...apiLines(upstream.url, options),
    ...(options.extra ?? []),
    '',
  ].join('\n'));
  const cli = (args: string[], input?: string): Promise<CliRun> => runRaw([...args, '--config', configFile], input === undefined ? {} : { stdin: input });
  await seedStore(cli, options.users ?? [], workersPassword);
  const serve = await startServe(configFile, port);
  const base = `http://127.0.0.1:${port}`;
  await poll(async () => {
    for (let i = 0; i < 4; i++) await callOnFreshConnection(base, '/healthz');
    const pids = new Set(serve.output().split('\n').filter((l) => l.includes('gatehouse listening')).map((l) => (JSON.parse(l) as { pid?: number }).pid));
    if (pids.size < 2) throw new Error('one worker only so far');
  });
  return {
    serve,
    base,
    configFile,
    upstream,
    cli,
    async stop() {
      await serve.stop();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
