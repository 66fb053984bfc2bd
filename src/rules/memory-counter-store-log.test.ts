import { describe, expect, test } from 'vitest';
import { HitLog } from './memory-counter-store-log.js';

const contents = (log: HitLog): number[] => Array.from({ length: log.size }, (_, i) => log.at(i));

describe('HitLog', () => {
  test('keeps hits oldest first across the ring wrapping round', () => {
    const log = new HitLog(4);
    for (const t of [1, 2, 3, 4]) log.insert(t);
    log.dropOldest(3);
    for (const t of [5, 6, 7]) log.insert(t);
    expect(contents(log)).toEqual([4, 5, 6, 7]);
    expect(log.capacity).toBe(4);
  });

  test('inserts a hit earlier than the newest in time order, across the wrap', () => {
    const log = new HitLog(4);
    for (const t of [10, 20, 30]) log.insert(t);
    log.dropOldest(2);
    log.insert(50);
    log.insert(40);
    log.insert(35);
    expect(contents(log)).toEqual([30, 35, 40, 50]);
  });

  test('firstAfter and firstNotBefore find the window edge, with repeated times', () => {
    const log = new HitLog(8);
    for (const t of [1, 3, 3, 3, 5, 8]) log.insert(t);
    log.dropOldest(1);
    log.insert(9);
    log.insert(9);
    // [3, 3, 3, 5, 8, 9, 9], wrapped.
    expect([0, 3, 4, 8, 9, 10].map((t) => log.firstAfter(t))).toEqual([0, 3, 3, 5, 7, 7]);
    expect([0, 3, 4, 8, 9, 10].map((t) => log.firstNotBefore(t))).toEqual([0, 0, 3, 4, 5, 7]);
    expect(new HitLog().firstAfter(0)).toBe(0);
  });

  test('resize keeps the hits in order; an empty log drops nothing', () => {
    const log = new HitLog(3);
    for (const t of [1, 2, 3]) log.insert(t);
    log.dropOldest(2);
    log.insert(4);
    log.insert(5);
    log.resize(6);
    log.insert(6);
    expect(contents(log)).toEqual([3, 4, 5, 6]);
    log.dropOldest(10);
    expect(log.size).toBe(0);
  });

  test('refuses to insert without room or to shrink below its size', () => {
    const log = new HitLog(1);
    log.insert(1);
    expect(() => log.insert(2)).toThrow('without room');
    expect(() => log.resize(0)).toThrow('below its size');
  });
});
