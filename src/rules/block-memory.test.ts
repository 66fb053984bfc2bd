import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeMessageBody } from '../cluster/node-messages.js';
import { createLogger, silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { BlockMemory } from './block-memory.js';

/**
 * BlockMemory over a real store (a SQLite file): `writer` is another process's view of the same
 * blocks, which this memory does not see until told (or until its backstop re-read).
 */
describe('BlockMemory', () => {
  let dir: string;
  let store: Store;
  let writer: Store;
  let clock: ManualClock;
  let hearing: boolean;
  let announced: NodeMessageBody[];
  let memory: BlockMemory;
  let lists: number;
  /** The monotonic time the trust window is measured on. */
  let monotonic: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-block-memory-'));
    store = openSqliteStore(join(dir, 'g.db'));
    writer = openSqliteStore(join(dir, 'g.db'));
    clock = new ManualClock(Date.UTC(2026, 11, 7));
    hearing = true;
    announced = [];
    lists = 0;
    monotonic = 0;
    const blocks = store.blocks;
    memory = new BlockMemory({
      store: {
        add: (b) => blocks.add(b),
        blockedUntil: (by, key, now) => blocks.blockedUntil(by, key, now),
        list: (now) => {
          lists += 1;
          return blocks.list(now);
        },
        remove: (rule, key, now) => blocks.remove(rule, key, now),
        purge: (now) => blocks.purge(now),
      },
      hearing: () => hearing,
      announce: async (message) => {
        announced.push(message);
      },
      clock,
      logger: silentLogger(),
      refreshEveryMs: 3_600_000,
      now: () => monotonic,
      settleMs: 50,
    });
  });
  afterEach(async () => {
    memory.stop();
    await store.close();
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const block = (key: string, until: number) => ({ rule: 'fence', by: 'ip' as const, key, until });

  it('loads the active blocks at start and answers from memory: a block written elsewhere is unseen until told', async () => {
    const now = clock.now();
    await writer.blocks.add(block('192.0.2.1', now + 60_000));
    await memory.start();
    expect(await memory.blockedUntil('ip', '192.0.2.1', now)).toBe(now + 60_000);
    await writer.blocks.add(block('192.0.2.2', now + 60_000));
    await writer.blocks.remove('fence', '192.0.2.1', now);
    expect(await memory.blockedUntil('ip', '192.0.2.2', now)).toBeNull();
    expect(await memory.blockedUntil('ip', '192.0.2.1', now)).toBe(now + 60_000);
    // Told (a `changed` message): a read made right after, before the re-read lands, waits for it.
    void memory.changed();
    expect(await memory.blockedUntil('ip', '192.0.2.2', now)).toBe(now + 60_000);
    expect(await memory.blockedUntil('ip', '192.0.2.1', now)).toBeNull();
  });

  it('a burst of changes costs one re-read under way and one queued behind it', async () => {
    await memory.start();
    const now = clock.now();
    for (let i = 0; i < 50; i += 1) await writer.blocks.add(block(`198.51.100.${i}`, now + 60_000));
    lists = 0;
    const burst = Array.from({ length: 50 }, () => memory.changed());
    expect(await memory.blockedUntil('ip', '198.51.100.49', now)).toBe(now + 60_000);
    await Promise.all(burst);
    expect(lists).toBe(2);
  });

  it('a block ends at its time without a re-read (the clock moves)', async () => {
    const now = clock.now();
    await writer.blocks.add(block('192.0.2.1', now + 60_000));
    await memory.start();
    clock.advance(59_999);
    expect(await memory.blockedUntil('ip', '192.0.2.1', clock.now())).toBe(now + 60_000);
    clock.advance(1);
    expect(await memory.blockedUntil('ip', '192.0.2.1', clock.now())).toBeNull();
  });

  it('a block added here is written, announced, and enforced here on the next read; the request that set it is held until the others settled', async () => {
    await memory.start();
    const now = clock.now();
    const started = performance.now();
    await memory.add(block('192.0.2.3', now + 1_000));
    // settleMs (here 50; by default the revokers' confirmationTimeoutMs) after the commit.
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(announced).toEqual([{ type: 'changed', what: 'blocks' }]);
    expect(await writer.blocks.blockedUntil('ip', '192.0.2.3', now)).toBe(now + 1_000);
    expect(await memory.blockedUntil('ip', '192.0.2.3', now)).toBe(now + 1_000);
  });

  it('a memory whose last re-read started trustForMs ago or more is not trusted: the announcement may never have come', async () => {
    await memory.start();
    const now = clock.now();
    await writer.blocks.add(block('192.0.2.7', now + 60_000));
    monotonic += 749;
    expect(await memory.blockedUntil('ip', '192.0.2.7', now)).toBeNull();
    monotonic += 1;
    expect(await memory.blockedUntil('ip', '192.0.2.7', now)).toBe(now + 60_000);
    // A re-read (the 250 ms backstop) restores trust, now with the block in it.
    await memory.changed();
    await store.close();
    expect(await memory.blockedUntil('ip', '192.0.2.7', now)).toBe(now + 60_000);
  });

  it('while the channel is not heard, every read goes to the store', async () => {
    await memory.start();
    const now = clock.now();
    hearing = false;
    await writer.blocks.add(block('192.0.2.4', now + 60_000));
    expect(await memory.blockedUntil('ip', '192.0.2.4', now)).toBe(now + 60_000);
    hearing = true;
    // Heard again, memory is what it was: the channel coming back asks for a re-read (create-gateway.ts).
    expect(await memory.blockedUntil('ip', '192.0.2.4', now)).toBeNull();
    await memory.changed();
    expect(await memory.blockedUntil('ip', '192.0.2.4', now)).toBe(now + 60_000);
  });

  it('reads the store until the first load has landed, and after a re-read failed', async () => {
    const now = clock.now();
    await writer.blocks.add(block('192.0.2.5', now + 60_000));
    expect(await memory.blockedUntil('ip', '192.0.2.5', now)).toBe(now + 60_000);
    await memory.start();
    await writer.blocks.add(block('192.0.2.6', now + 60_000));
    await store.close();
    await memory.changed();
    // The store is closed: the failed re-read leaves no memory to trust, so the read meets the store's error.
    await expect(memory.blockedUntil('ip', '192.0.2.5', now)).rejects.toThrow();
  });

  it('blockedUntilNow answers from memory at once only when blockedUntil would (else undefined: ask the store)', async () => {
    const now = clock.now();
    await writer.blocks.add(block('192.0.2.8', now + 60_000));
    expect(memory.blockedUntilNow('ip', '192.0.2.8', now)).toBeUndefined();
    await memory.start();
    expect(memory.blockedUntilNow('ip', '192.0.2.8', now)).toBe(now + 60_000);
    expect(memory.blockedUntilNow('ip', '192.0.2.9', now)).toBeNull();
    await writer.blocks.add(block('192.0.2.9', now + 60_000));
    // A re-read asked for and not landed: not from memory.
    const reread = memory.changed();
    expect(memory.blockedUntilNow('ip', '192.0.2.9', now)).toBeUndefined();
    await reread;
    expect(memory.blockedUntilNow('ip', '192.0.2.9', now)).toBe(now + 60_000);
    hearing = false;
    expect(memory.blockedUntilNow('ip', '192.0.2.9', now)).toBeUndefined();
    hearing = true;
    monotonic += 750;
    expect(memory.blockedUntilNow('ip', '192.0.2.9', now)).toBeUndefined();
  });

  it('the store unreachable: answers from memory past its window while the channel vouches (failed backstop re-reads keep it); a change heard meanwhile sends reads to the store, which fail (closed, never open)', async () => {
    let down = false;
    let vouched = false;
    const check = (): void => {
      if (down) throw new Error('store unreachable');
    };
    const blocks = store.blocks;
    const held = new BlockMemory({
      store: {
        add: async (b) => (check(), blocks.add(b)),
        blockedUntil: async (by, key, now) => (check(), blocks.blockedUntil(by, key, now)),
        list: async (now) => (check(), blocks.list(now)),
        remove: async (rule, key, now) => (check(), blocks.remove(rule, key, now)),
        purge: async (now) => (check(), blocks.purge(now)),
      },
      hearing: () => true,
      vouched: () => vouched,
      announce: async () => undefined,
      clock,
      logger: silentLogger(),
      refreshEveryMs: 10,
      now: () => monotonic,
    });
    const now = clock.now();
    await writer.blocks.add(block('192.0.2.9', now + 60_000));
    await held.start();
    try {
      down = true;
      await new Promise((resolve) => setTimeout(resolve, 60));
      monotonic += 5_000;
      await expect(held.blockedUntil('ip', '192.0.2.9', now), 'past the window, not vouched').rejects.toThrow('store unreachable');
      vouched = true;
      expect(await held.blockedUntil('ip', '192.0.2.9', now)).toBe(now + 60_000);
      expect(await held.blockedUntil('ip', '192.0.2.10', now)).toBeNull();
      await held.changed();
      await expect(held.blockedUntil('ip', '192.0.2.10', now), 'a change it could not read').rejects.toThrow('store unreachable');
    } finally {
      held.stop();
    }
  });

  it('logs a failing re-read by error name and code only: the message, which may hold the connection string, never reaches the log', async () => {
    const lines: string[] = [];
    const failure = Object.assign(new Error('connect ECONNREFUSED postgres://gatehouse:s3cret-pw@db.internal:5432/gh'), { code: 'ECONNREFUSED' });
    const failing = new BlockMemory({
      store: { ...store.blocks, list: async () => Promise.reject(failure) },
      hearing: () => true,
      announce: async () => undefined,
      clock,
      logger: createLogger({ destination: { write: (line: string) => void lines.push(line) } }),
      refreshEveryMs: 3_600_000,
      now: () => monotonic,
    });
    await failing.start();
    failing.stop();
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('s3cret-pw');
    expect(lines[0]).not.toContain('db.internal');
    expect(JSON.parse(lines[0]!).err).toEqual({ name: 'Error', code: 'ECONNREFUSED' });
  });
});
