import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BucketWindow } from '../../rules/bucket-window.js';
import { migrate, migrations } from './migrations.js';
import { openDatabase } from './open-database.js';
import { decodeCounts, encodeCounts } from '../bucket-counts.js';
import { SqliteCounterStore } from './sqlite-counter-store.js';

/** What the contract cannot see through the port: the rows and bytes a key takes. */
describe('SqliteCounterStore rows', () => {
  let db: Database.Database;
  let store: SqliteCounterStore;
  const rows = (key: string) => db.prepare('SELECT head, length(counts) AS bytes, expires_at AS expiresAt FROM counter_windows WHERE key = ?').all(key);

  beforeEach(() => {
    db = openDatabase(':memory:');
    migrate(db);
    store = new SqliteCounterStore(db);
  });
  afterEach(() => {
    db.close();
  });

  test('a key is one row of at most 61 counts, whatever its max and its traffic', async () => {
    // 20,000 takes over two minutes of a one-minute window (buckets of 1 s), at max 1,000,000.
    for (let i = 0; i < 20_000; i += 1) await store.take('busy', 600_000 + i * 6, 60_000, 1_000_000);
    const [row, ...more] = rows('busy') as { head: number; bytes: number; expiresAt: number }[];
    expect(more).toHaveLength(0);
    // The newest bucket is second 719 (t = 719,994 ms); 61 buckets of ~167 hits, 3 bytes each.
    expect(row).toEqual({ head: 719, bytes: 61 * 3, expiresAt: (719 + 61) * 1_000 });
    // Every take from t = 659,000 (i = 9,834) on: the window's 61 buckets.
    expect(await store.count('busy', 719_994, 60_000, 1)).toMatchObject({ count: 20_000 - 9_834 });
  });

  test('reset deletes the row; a refused take writes nothing', async () => {
    await store.take('k', 1_000, 60_000, 1);
    const before = rows('k');
    expect(await store.take('k', 2_000, 60_000, 1)).toMatchObject({ allowed: false });
    expect(rows('k')).toEqual(before);
    await store.reset('k');
    expect(rows('k')).toEqual([]);
  });
});

describe('the counts BLOB', () => {
  test('round-trips ages and counts of any size below 2^53', () => {
    const window = BucketWindow.restore(60_000, 1_000, [[940, 1], [941, 127], [950, 128], [999, 2 ** 40 + 3], [1_000, 2 ** 53 - 1]]);
    const bytes = encodeCounts(window);
    expect([...decodeCounts(1_000, bytes)]).toEqual([[940, 1], [941, 127], [950, 128], [999, 2 ** 40 + 3], [1_000, 2 ** 53 - 1]]);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([60, 1, 59, 127]));
  });

  test('skips pairs no window of the head can hold, and stops at a truncated count', () => {
    expect([...decodeCounts(1_000, Buffer.from([61, 5, 0, 2]))]).toEqual([[1_000, 2]]);
    expect([...decodeCounts(1_000, Buffer.from([3, 0x81]))]).toEqual([]);
  });
});

describe('the counter_windows migration', () => {
  test('replaces the hit rows with one row per key, dropping the old hits', () => {
    const db = openDatabase(':memory:');
    try {
      // Found by what it does, not its number: migrations may be renumbered when branches merge.
      const version = migrations.find((m) => m.sql.includes('CREATE TABLE counter_windows'))!.version;
      migrate(db, migrations.slice(0, version - 1));
      db.prepare('INSERT INTO counter_hits (key, at) VALUES (?, ?)').run('rule:x:1.2.3.4', 1_000);
      db.prepare('INSERT INTO counter_blocks (key, until) VALUES (?, ?)').run(`login:acct:${'a'.repeat(64)}`, 9_000);
      migrate(db);
      expect(db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'counter_%' ORDER BY name").pluck().all()).toEqual(['counter_blocks', 'counter_windows', 'counter_windows_expires_at']);
      expect(db.prepare('SELECT count(*) FROM counter_windows').pluck().get()).toBe(0);
      expect(db.prepare('SELECT until FROM counter_blocks').pluck().all()).toEqual([9_000]);
    } finally {
      db.close();
    }
  });
});
