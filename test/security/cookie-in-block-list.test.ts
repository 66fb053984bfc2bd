import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { runRaw } from '../cli/harness.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * A session blocked by a `by: session` rule must be listed and lifted by something an operator may
 * see and paste: its non-secret handle. Were the key the cookie value, `gatehouse block list` (its
 * output lands in terminals, tickets and shell history) would hand out a live session; were it the
 * id's SHA-256, the blocks table would tie a row to the cookie and the key could not be matched with
 * `gatehouse session list`. Neither may appear in the list, the blocks table or the audit trail.
 */

const env = useGateway({
  users: [{ name: 'alice' }],
  config: {
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
    limits: [{ name: 'per-session', match: '/api/**', by: 'session', max: 1, per: '1m', action: 'block', for: '15m' }],
  },
});

let cookie: string;
beforeAll(async () => {
  cookie = await login(env.gw.url, 'alice');
  expect((await call(env.gw.url, '/api/x', { session: cookie })).status).toBe(200);
  expect((await call(env.gw.url, '/api/x', { session: cookie })).status).toBe(403);
});

const cli = (args: string[]) => runRaw([...args, '--config', join(env.gw.dir, 'gatehouse.yaml')]);

describe('the session cookie in the block list', () => {
  it('is not what block list shows: the key is the handle session list shows', async () => {
    const [session] = JSON.parse((await cli(['session', 'list', '--json'])).stdout) as { id: string }[];
    const json = await cli(['block', 'list', '--json']);
    const table = await cli(['block', 'list']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ rule: 'per-session', by: 'session', key: session!.id })]);
    for (const output of [json.stdout, table.stdout]) {
      expect(output).not.toContain(cookie);
      expect(output).not.toContain(sha256Hex(cookie));
    }
  });

  it('is in no row of the blocks table, nor its hash, nor in the audit trail', async () => {
    const db = new Database(join(env.gw.dir, 'gatehouse.db'), { readonly: true });
    try {
      const rows = JSON.stringify(db.prepare('SELECT * FROM rule_blocks').all());
      expect(rows).toContain('per-session');
      expect(rows).not.toContain(cookie);
      expect(rows).not.toContain(sha256Hex(cookie));
    } finally {
      db.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    const audit = JSON.stringify(await env.gw.gateway.services.store.audit.recent(100));
    expect(audit).toContain('rate_limit_triggered');
    expect(audit).not.toContain(cookie);
    expect(audit).not.toContain(sha256Hex(cookie));
  });

  it('lifting the block by that handle lets the same cookie through again', async () => {
    const [block] = JSON.parse((await cli(['block', 'list', '--json'])).stdout) as { key: string }[];
    expect((await cli(['block', 'remove', 'per-session', block!.key])).code).toBe(0);
    // The rule's window must also have room again: its minute and one counter bucket (1 s).
    env.gw.clock.advance(61_000);
    expect((await call(env.gw.url, '/api/x', { session: cookie })).status).toBe(200);
  });
});
