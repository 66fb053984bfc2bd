import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Workspace } from './harness.js';

let ws: Workspace;
beforeEach(async () => {
  ws = new Workspace();
  await ws.addUser('alice');
  await ws.run(['user', 'lock', 'alice']);
  await ws.run(['user', 'unlock', 'alice']);
});
afterEach(() => {
  ws.remove();
});

describe('gatehouse audit', () => {
  it('prints the SPEC JSON shape, newest first', async () => {
    const result = await ws.run(['audit', '--json']);
    expect(result.code).toBe(0);
    const events = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(events.length).toBeGreaterThanOrEqual(3);
    for (const event of events) expect(Object.keys(event).sort()).toEqual(['detail', 'ip', 'requestId', 'time', 'type', 'user']);
    expect(events.map((e) => e.type).slice(0, 2)).toEqual(['user_unlocked', 'user_locked']);
    expect(events.at(-1)).toMatchObject({ type: 'user_created', ip: null, requestId: null });
    const times = events.map((e) => e.time as string);
    expect(times.every((t) => new Date(t).toISOString() === t)).toBe(true);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('--limit N shows the N newest events', async () => {
    const events = JSON.parse((await ws.run(['audit', '--limit', '1', '--json'])).stdout) as { type: string }[];
    expect(events.map((e) => e.type)).toEqual(['user_unlocked']);
  });

  it('prints a table with a header row', async () => {
    const lines = (await ws.run(['audit'])).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME +TYPE +USER +IP +REQUEST ID +DETAIL$/);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +user_unlocked /);
  });

  it.each(['0', '-1', '1.5', 'ten', '10x', ''])('refuses --limit %j with exit 2', async (limit) => {
    const result = await ws.run(['audit', '--limit', limit]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--limit/);
    expect(result.stdout).toBe('');
  });
});
