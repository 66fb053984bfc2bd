import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import type { Gateway } from './create-gateway.js';
import { reloadConfig } from './reload.js';

/**
 * reloadConfig's decisions on real files (the serving side is test/integration/reload*.test.ts):
 * which keys are refused, which apply, which wait for a restart, and what the log says.
 */

let dir: string;
let file: string;
let lines: Array<Record<string, unknown>>;
let applied: GatewayConfig[];
let gateway: Gateway;

const postgres = (redis: string): string => [
  'store: { postgres: "postgres://gatehouse@127.0.0.1:5432/gatehouse" }',
  `cache: { redis: "${redis}" }`,
].join('\n');

function write(...extra: string[]): void {
  writeFileSync(file, [
    'upstreams: [{ name: api, url: "http://127.0.0.1:9000", credential: { type: bearer, secret: tok } }]',
    ...extra,
    '',
  ].join('\n'));
}

function logger() {
  return createLogger({ destination: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-unit-'));
  file = join(dir, 'gatehouse.yaml');
  lines = [];
  applied = [];
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function serving(...extra: string[]): void {
  write(...extra);
  const running = loadConfig(file).config;
  gateway = {
    runtime: { config: running },
    reload: async (next: GatewayConfig) => {
      applied.push(next);
    },
  } as unknown as Gateway;
}

describe('reloadConfig', () => {
  it('applies routes, upstreams, limits, IP lists and the static site, and names the keys that wait for a restart', async () => {
    serving('routes: [{ path: /a/**, upstream: api }]');
    write(
      'routes: [{ path: /b/**, upstream: api }]',
      'limits: [{ name: r, match: /b/**, by: ip, max: 1, per: 1m, action: reject }]',
      'ipRules: { deny: [10.0.0.0/8] }',
      'static: ./site',
      'session: { idleTimeout: 5m }',
      'server: { trustedProxies: [10.0.0.1/32] }',
    );
    expect(await reloadConfig(file, gateway, logger())).toBe(true);
    expect(applied.map((c) => c.routes.map((r) => r.path))).toEqual([['/b/**']]);
    expect(lines.find((l) => l.msg === 'configuration reloaded')?.changed).toEqual(['routes', 'limits', 'ipRules', 'static']);
    expect(lines.find((l) => l.msg === 'changed keys that apply only after a restart')?.keys).toEqual(['server.trustedProxies', 'session']);
  });

  it('refuses server.host, server.port and server.workers by name, and applies nothing', async () => {
    serving();
    write('server: { host: 0.0.0.0, port: 9999, workers: 3 }', 'routes: [{ path: /b/**, upstream: api }]');
    expect(await reloadConfig(file, gateway, logger())).toBe(false);
    expect(applied).toEqual([]);
    expect(lines.filter((l) => l.msg === 'configuration problem').map((l) => l.key)).toEqual(['server.host', 'server.port', 'server.workers']);
    expect(lines.at(-1)).toMatchObject({ msg: 'configuration not reloaded: the running configuration stays', keys: ['server.host', 'server.port', 'server.workers'] });
  });

  it('refuses a changed store and cache by name, without logging their values', async () => {
    serving(postgres('redis://127.0.0.1:6379/0'));
    write(postgres('redis://:hunter2-not-logged@127.0.0.1:6380/0').replace('5432', '5433'));
    expect(await reloadConfig(file, gateway, logger())).toBe(false);
    expect(lines.filter((l) => l.msg === 'configuration problem').map((l) => l.key)).toEqual(['store', 'cache']);
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect(JSON.stringify(lines)).not.toContain('5433');
  });

  it('a file that cannot be read or parsed: every problem logged, nothing applied', async () => {
    serving();
    write('routes: [{ path: /b/**, upstream: nowhere, colour: red }]');
    expect(await reloadConfig(file, gateway, logger())).toBe(false);
    expect(lines.filter((l) => l.msg === 'configuration problem').map((l) => l.key)).toEqual(['routes[0].colour', 'routes[0].upstream']);
    rmSync(file);
    expect(await reloadConfig(file, gateway, logger())).toBe(false);
    expect(applied).toEqual([]);
    expect(lines.filter((l) => l.msg === 'configuration problem').at(-1)?.problem).toMatch(/does not exist/);
  });

  it('an unchanged file reloads with nothing changed', async () => {
    serving('routes: [{ path: /a/**, upstream: api }]');
    expect(await reloadConfig(file, gateway, logger())).toBe(true);
    expect(lines.find((l) => l.msg === 'configuration reloaded')?.changed).toEqual([]);
  });
});
