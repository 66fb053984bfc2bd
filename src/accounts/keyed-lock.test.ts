import { describe, expect, test } from 'vitest';
import { KeyedLock } from './keyed-lock.js';

/** A promise with its resolver, to hold a task open until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('KeyedLock', () => {
  test('tasks of one key run one at a time, in arrival order', async () => {
    const lock = new KeyedLock(10);
    const events: string[] = [];
    let running = 0;
    const task = (name: string) => async () => {
      running += 1;
      expect(running).toBe(1);
      events.push(`start ${name}`);
      await tick();
      events.push(`end ${name}`);
      running -= 1;
      return name;
    };
    const results = await Promise.all(['a', 'b', 'c'].map((name) => lock.run('k', task(name))));
    expect(results).toEqual([{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  test('tasks of different keys run side by side', async () => {
    const lock = new KeyedLock(10);
    const held = gate();
    let otherRan = false;
    const first = lock.run('a', () => held.promise);
    await lock.run('b', async () => {
      otherRan = true;
    });
    expect(otherRan).toBe(true);
    held.open();
    await first;
  });

  test('a key is forgotten once its last task settles, so the map does not grow', async () => {
    const lock = new KeyedLock(10);
    const held = gate();
    const running = lock.run('a', () => held.promise);
    const waiting = lock.run('a', async () => 'second');
    expect(lock.size).toBe(1);
    held.open();
    await Promise.all([running, waiting]);
    expect(lock.size).toBe(0);
    for (let i = 0; i < 1000; i += 1) await lock.run(`key-${i}`, async () => i);
    expect(lock.size).toBe(0);
  });

  test('a task that throws releases the key and its error reaches the caller', async () => {
    const lock = new KeyedLock(10);
    await expect(lock.run('a', async () => {
      throw new Error('store down');
    })).rejects.toThrow('store down');
    expect(await lock.run('a', async () => 'next')).toEqual({ value: 'next' });
    expect(lock.size).toBe(0);
  });

  test('past maxKeys a new key is refused as busy (its task not run); a held key still queues', async () => {
    const lock = new KeyedLock(2);
    const held = gate();
    const a = lock.run('a', () => held.promise);
    const b = lock.run('b', () => held.promise);
    let ran = false;
    expect(await lock.run('c', async () => {
      ran = true;
    })).toBe('busy');
    expect(ran).toBe(false);
    const queued = lock.run('a', async () => 'queued');
    held.open();
    await Promise.all([a, b]);
    expect(await queued).toEqual({ value: 'queued' });
    expect(await lock.run('c', async () => 'now')).toEqual({ value: 'now' });
  });

  test('refuses a nonsensical bound', () => {
    expect(() => new KeyedLock(0)).toThrow(RangeError);
  });
});
