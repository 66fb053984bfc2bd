import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

const hour = 3_600_000;

/** The gateway's first start: the key it creates before serving. */
async function firstStart(): Promise<string> {
  return ws.withServices(async ({ signingKeys }) => {
    await signingKeys.init();
    return signingKeys.active.kid;
  });
}

describe('gatehouse keys rotate', () => {
  it('adds an active key, prints its kid, and keeps the old one published for 24h by default', async () => {
    const old = await firstStart();
    const before = Date.now();
    const result = await ws.run(['keys', 'rotate']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const [first, second, ...rest] = result.stdout.split('\n');
    const kid = /^new signing key ([A-Za-z0-9_-]{43}); running gateways sign with it within 5 s$/.exec(first!)?.[1];
    expect(kid).toBeDefined();
    expect(second).toMatch(new RegExp(`^previous key ${old} stays published until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
    expect(rest).toEqual(['']);

    const keys = await ws.withServices(async ({ store }) => store.keys.list());
    expect(keys.map((k) => [k.kid, k.retiredAt === null])).toEqual([[kid, true], [old, false]]);
    const until = keys[1]!.publishedUntil!;
    expect(until - keys[1]!.retiredAt!).toBe(24 * hour);
    expect(keys[1]!.retiredAt!).toBeGreaterThanOrEqual(before);
    expect(second).toContain(new Date(until).toISOString());
  });

  it('--grace sets the grace period, parsed like durations in the configuration', async () => {
    await firstStart();
    expect((await ws.run(['keys', 'rotate', '--grace', '90m'])).code).toBe(0);
    const [, retired] = await ws.withServices(async ({ store }) => store.keys.list());
    expect(retired!.publishedUntil! - retired!.retiredAt!).toBe(90 * 60_000);
  });

  it('refuses a malformed or too short --grace with exit 2 and changes nothing', async () => {
    await firstStart();
    expect(await ws.run(['keys', 'rotate', '--grace', 'soon'])).toEqual({ code: 2, stdout: '', stderr: 'error: --grace: expected a duration like "24h"\n' });
    const short = await ws.run(['keys', 'rotate', '--grace', '1m']);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/^error: --grace: must be at least 2m/);
    expect(await ws.withServices(async ({ store }) => store.keys.list())).toHaveLength(1);
  });

  it('records signing_key_rotated in the audit log, shown by gatehouse audit', async () => {
    const old = await firstStart();
    const rotated = await ws.run(['keys', 'rotate']);
    const kid = /^new signing key (\S+);/.exec(rotated.stdout)![1]!;
    const audit = await ws.run(['audit', '--json', '--limit', '1']);
    expect(audit.code).toBe(0);
    const [event] = JSON.parse(audit.stdout) as { type: string; user: string | null; detail: Record<string, unknown> }[];
    expect(event).toMatchObject({ type: 'signing_key_rotated', user: null, detail: { kid, retired: old, by: 'cli' } });
  });

  it('on a store no gateway has started on yet, creates the first key; nothing is retired', async () => {
    const result = await ws.run(['keys', 'rotate']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^new signing key \S+; running gateways sign with it within 5 s\n$/);
    expect(await ws.withServices(async ({ store }) => store.keys.list())).toHaveLength(1);
  });

  it('refuses to create a master key: without one it fails with exit 1 and no key is made', async () => {
    const fresh = new Workspace(undefined, { masterKey: false });
    try {
      const result = await fresh.run(['keys', 'rotate']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/masterKey file .* does not exist/);
    } finally {
      fresh.remove();
    }
  });
});
