import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { maxSocketsPerSession, SessionSocketSlots } from './session-socket-slots.js';

describe('SessionSocketSlots', () => {
  let dir: string;
  let store: Store;
  let lines: string[];
  let slots: SessionSocketSlots;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-slots-'));
    store = openSqliteStore(join(dir, 'gatehouse.db'));
    await store.nodes.beat('node-1', 0);
    lines = [];
    slots = new SessionSocketSlots({ slots: store.connectionSlots, nodeId: 'node-1', logger: createLogger({ destination: { write: (line: string) => void lines.push(line) } }) });
  });
  afterEach(async () => {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives 20 slots per session, then null; a release frees one, and releasing twice frees no other', async () => {
    const releases: (() => void)[] = [];
    for (let i = 0; i < maxSocketsPerSession; i++) releases.push((await slots.take('handle-a'))!);
    expect(await slots.take('handle-a')).toBeNull();
    expect(await slots.take('handle-b')).not.toBeNull();
    releases[0]!();
    releases[0]!();
    expect(await slots.take('handle-a')).not.toBeNull();
    expect(await slots.take('handle-a')).toBeNull();
  });

  it('a release the store cannot make is logged without the session handle, and never thrown', async () => {
    const release = (await slots.take('handle-secretive'))!;
    await store.close();
    expect(() => release()).not.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lines.join('')).toContain('could not release a WebSocket slot');
    expect(lines.join('')).not.toContain('handle-secretive');
  });

  it('a take the store cannot make rejects (the relay answers 503), never resolves as taken', async () => {
    await store.close();
    await expect(slots.take('handle-a')).rejects.toThrow();
  });
});
