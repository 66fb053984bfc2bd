import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';

/**
 * `gatehouse serve` writes its access log to stdout in batches (log/logger.ts, up to 15 KiB or
 * 250 ms): a line still gathered when serve is stopped is written before the process exits.
 */

let dir: string | undefined;
let serve: ServeProcess | undefined;

afterAll(async () => {
  await serve?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the access log at stop', () => {
  it('holds the line of a request answered just before SIGTERM', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-log-stop-'));
    const port = await freePort();
    const configFile = join(dir, 'gatehouse.yaml');
    writeFileSync(configFile, [
      `server: { host: 127.0.0.1, port: ${port}, allowedHosts: [127.0.0.1] }`,
      'store: { sqlite: ./gatehouse.db }',
      'masterKey: file:./master.key',
      'upstreams: [{ name: api, url: "http://127.0.0.1:9", credential: { type: bearer, secret: api-token } }]',
      'routes: [{ path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }]',
      '',
    ].join('\n'));
    expect(gatehouse(['secret', 'set', 'api-token', '--config', configFile], { input: 'the-upstream-token-123' }).code).toBe(0);
    serve = await startServe(configFile, port);
    const reply = await call(`http://127.0.0.1:${port}`, '/healthz');
    const requestId = String(reply.headers['x-request-id']);
    expect(await serve.stop()).toBe(0);
    const lines = serve.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; requestId?: string });
    expect(lines.filter((l) => l.msg === 'request' && l.requestId === requestId)).toHaveLength(1);
  });
});
