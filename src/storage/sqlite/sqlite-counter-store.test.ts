import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { migrate } from './migrations.js';
import { openDatabase } from './open-database.js';
import { SqliteCounterStore } from './sqlite-counter-store.js';

/** What the contract cannot see through the port: how much of a busy key a take reads. */
describe('SqliteCounterStore take', () => {
  let db: Database.Database;
  let store: SqliteCounterStore;

  beforeEach(() => {
    db = openDatabase(':memory:');
    migrate(db);
    store = new SqliteCounterStore(db);
  });
  afterEach(() => {
    db.close();
  });

  test('stops counting at the limit: a take of max 5 on a key holding 20,000 hits reads (and reports) 5', async () => {
    const insert = db.prepare('INSERT INTO counter_hits (key, at) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 20_000; i++) insert.run('busy', 1_000 + i);
    })();
    // Refused on the first `max` hits, oldest first; the retry time is still the oldest hit's.
    expect(await store.take('busy', 30_000, 60_000, 5)).toEqual({ allowed: false, count: 5, retryAt: 1_000 + 60_000 });
    // A limit above what the key holds still counts all of it.
    expect(await store.take('busy', 30_000, 60_000, 50_000)).toEqual({ allowed: true, count: 20_001, retryAt: null });
  });
});
