import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { migrate } from './migrations.js';
import { openDatabase } from './open-database.js';
import { purgeSql } from './sqlite-session-store.js';

/** What the contract cannot see through the port: how SQLite runs the statements. */
describe('SqliteSessionStore statements', () => {
  let db: Database.Database;

  beforeEach(() => {
    db = openDatabase(':memory:');
    migrate(db);
  });
  afterEach(() => {
    db.close();
  });

  test('the purge of expired sessions uses an index on each side of its OR, never a table scan', () => {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${purgeSql}`).all(0, 0) as { detail: string }[]).map((row) => row.detail).join('\n');
    expect(plan).toMatch(/INDEX sessions_last_seen_at/);
    expect(plan).toMatch(/INDEX sessions_expires_at/);
    expect(plan).not.toMatch(/SCAN sessions(?! USING)/);
  });
});
