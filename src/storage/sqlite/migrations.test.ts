import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { migrate, migrations, schemaVersion, type Migration } from './migrations.js';

describe('migrate', () => {
  let db: Database.Database;

  beforeEach(() => {
    db = new Database(':memory:');
  });
  afterEach(() => {
    db.close();
  });

  const steps: Migration[] = [
    { version: 1, description: 'log', sql: 'CREATE TABLE log (step INTEGER)' },
    { version: 2, description: 'two', sql: 'INSERT INTO log VALUES (2)' },
    { version: 3, description: 'three', sql: 'INSERT INTO log VALUES (3); INSERT INTO log VALUES (33)' },
  ];
  const logged = (): number[] => db.prepare('SELECT step FROM log ORDER BY rowid').pluck().all() as number[];

  test('a fresh database is at version 0 and migrates to the last version, in order', () => {
    expect(schemaVersion(db)).toBe(0);
    expect(migrate(db, steps)).toBe(3);
    expect(schemaVersion(db)).toBe(3);
    expect(logged()).toEqual([2, 3, 33]);
  });

  test('is idempotent: a second run applies nothing', () => {
    migrate(db, steps);
    expect(migrate(db, steps)).toBe(3);
    expect(logged()).toEqual([2, 3, 33]);
  });

  test('applies only the migrations past the current version', () => {
    migrate(db, steps.slice(0, 2));
    expect(logged()).toEqual([2]);
    migrate(db, steps);
    expect(logged()).toEqual([2, 3, 33]);
  });

  test('a failing migration rolls back every migration of the run', () => {
    const broken = [...steps, { version: 4, description: 'broken', sql: 'INSERT INTO missing_table VALUES (1)' }];
    expect(() => migrate(db, broken)).toThrow(/missing_table/);
    expect(schemaVersion(db)).toBe(0);
    expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'log'").pluck().get()).toBe(0);
  });

  test('refuses a list whose versions do not count from 1 without gaps', () => {
    expect(() => migrate(db, [steps[0]!, steps[2]!])).toThrow(/versions must count from 1/);
    expect(schemaVersion(db)).toBe(0);
  });

  test('refuses a database newer than the code', () => {
    db.pragma('user_version = 7');
    expect(() => migrate(db, steps)).toThrow('the database is at schema version 7, newer than this Gatehouse knows (3); upgrade Gatehouse');
  });

  test('the real migrations apply cleanly, twice, and create the tables the adapters use', () => {
    expect(migrate(db)).toBe(migrations.length);
    expect(migrate(db)).toBe(migrations.length);
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
    expect(tables).toEqual([
      'audit_events', 'counter_blocks', 'counter_windows', 'meta', 'passkeys', 'recovery_codes', 'secrets', 'sessions', 'signing_keys', 'totp_enrolments', 'users', 'webauthn_challenges',
    ]);
    const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(indexes).toEqual(['sessions_expires_at', 'sessions_handle', 'sessions_last_seen_at', 'sessions_user_name']);
    const counterIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'counter_windows' AND sql IS NOT NULL").pluck().all();
    expect(counterIndexes).toEqual(['counter_windows_expires_at']);
    const mfaIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('passkeys', 'webauthn_challenges') AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(mfaIndexes).toEqual(['passkeys_user_name', 'webauthn_challenges_expires_at']);
    const keyIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'signing_keys' AND sql IS NOT NULL").pluck().all();
    expect(keyIndexes).toEqual(['signing_keys_one_active']);
  });
});
