import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Block } from '../../src/rules/block-store.js';
import { runRaw, Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

const inAnHour = (): number => Date.now() + 3_600_000;

async function addBlocks(blocks: Block[]): Promise<void> {
  await ws.withServices(async ({ store }) => {
    for (const block of blocks) await store.blocks.add(block);
  });
}

describe('gatehouse block list', () => {
  it('prints the SPEC JSON shape {rule, by, key, until}, active blocks only, until in ISO 8601', async () => {
    const until = inAnHour();
    await addBlocks([
      { rule: 'per-ip', by: 'ip', key: '192.0.2.1', until },
      { rule: 'per-user', by: 'user', key: 'alice', until: until + 1 },
      { rule: 'per-ip', by: 'ip', key: '192.0.2.2', until: Date.now() - 1 },
    ]);
    const result = await ws.run(['block', 'list', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { rule: 'per-ip', by: 'ip', key: '192.0.2.1', until: new Date(until).toISOString() },
      { rule: 'per-user', by: 'user', key: 'alice', until: new Date(until + 1).toISOString() },
    ]);
  });

  it('prints a table, and an empty list when nothing is blocked', async () => {
    expect(JSON.parse((await ws.run(['block', 'list', '--json'])).stdout)).toEqual([]);
    await addBlocks([{ rule: 'per-ip', by: 'ip', key: '2001:db8::1', until: inAnHour() }]);
    const lines = (await ws.run(['block', 'list'])).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RULE +BY +KEY +UNTIL$/);
    expect(lines[1]).toMatch(/^per-ip +ip +2001:db8::1 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lines).toHaveLength(2);
  });
});

describe('gatehouse block remove', () => {
  it('lifts the block, says so, and audits who lifted what', async () => {
    const until = inAnHour();
    await addBlocks([{ rule: 'per-user', by: 'user', key: 'alice', until }, { rule: 'per-ip', by: 'ip', key: '192.0.2.1', until }]);
    expect(await ws.run(['block', 'remove', 'per-user', 'alice'])).toMatchObject({ code: 0, stdout: 'block of rule "per-user" on "alice" lifted\n', stderr: '' });
    expect(JSON.parse((await ws.run(['block', 'list', '--json'])).stdout)).toEqual([{ rule: 'per-ip', by: 'ip', key: '192.0.2.1', until: new Date(until).toISOString() }]);
    const [event] = await ws.withServices(async ({ store }) => store.audit.recent(1));
    expect(event).toMatchObject({
      type: 'block_removed',
      user: 'alice',
      ip: null,
      detail: { rule: 'per-user', by: 'user', key: 'alice', until: new Date(until).toISOString(), removedBy: 'cli' },
    });
  });

  it('an unknown block, another rule\'s, or one that has ended: exit 1, one sentence, nothing audited', async () => {
    await addBlocks([{ rule: 'per-ip', by: 'ip', key: '192.0.2.1', until: inAnHour() }, { rule: 'per-ip', by: 'ip', key: '192.0.2.9', until: Date.now() - 1 }]);
    expect(await ws.run(['block', 'remove', 'per-ip', '192.0.2.2'])).toMatchObject({ code: 1, stdout: '', stderr: 'error: no active block of rule "per-ip" on "192.0.2.2"\n' });
    expect(await ws.run(['block', 'remove', 'other', '192.0.2.1'])).toMatchObject({ code: 1, stderr: 'error: no active block of rule "other" on "192.0.2.1"\n' });
    expect((await ws.run(['block', 'remove', 'per-ip', '192.0.2.9'])).code).toBe(1);
    expect(JSON.parse((await ws.run(['block', 'list', '--json'])).stdout)).toHaveLength(1);
    const events = await ws.withServices(async ({ store }) => store.audit.recent(10));
    expect(events.filter((e) => e.type === 'block_removed')).toEqual([]);
  });

  it('takes a key that looks like an option after --', async () => {
    await addBlocks([{ rule: 'per-session', by: 'session', key: '-67XAKwsMjmU', until: inAnHour() }]);
    // --config first: everything after -- is an argument.
    expect(await runRaw(['--config', ws.configFile, 'block', 'remove', 'per-session', '--', '-67XAKwsMjmU'])).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse((await ws.run(['block', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('without RULE and KEY is bad usage: exit 2', async () => {
    expect((await ws.run(['block', 'remove', 'per-ip'])).code).toBe(2);
  });
});
