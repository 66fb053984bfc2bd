import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SchemaTooNewError } from '../schema-too-new-error.js';
import { applyMigrations, migrate, migrations, pendingMigrations, schemaVersion, type Migration } from './migrations.js';

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

  test('refuses a database newer than the code, with one sentence naming both versions, and changes nothing', () => {
    db.pragma('user_version = 7');
    expect(() => migrate(db, steps)).toThrow(SchemaTooNewError);
    expect(() => applyMigrations(db, steps)).toThrow('the store is at schema version 7, newer than this Gatehouse knows (3); upgrade Gatehouse');
    expect(() => pendingMigrations(db, steps)).toThrow(SchemaTooNewError);
    expect(schemaVersion(db)).toBe(7);
    expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'log'").pluck().get()).toBe(0);
  });

  test('applyMigrations returns what this call applied; pendingMigrations what is left, changing nothing', () => {
    expect(pendingMigrations(db, steps).map((m) => m.version)).toEqual([1, 2, 3]);
    expect(schemaVersion(db)).toBe(0);
    expect(applyMigrations(db, steps.slice(0, 1)).map((m) => m.version)).toEqual([1]);
    expect(pendingMigrations(db, steps).map((m) => m.version)).toEqual([2, 3]);
    expect(applyMigrations(db, steps).map((m) => m.description)).toEqual(['two', 'three']);
    expect(applyMigrations(db, steps)).toEqual([]);
    expect(pendingMigrations(db, steps)).toEqual([]);
  });

  test('the real migrations apply cleanly, twice, and create the tables the adapters use', () => {
    expect(migrate(db)).toBe(migrations.length);
    expect(migrate(db)).toBe(migrations.length);
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
    expect(tables).toEqual([
      'audit_events', 'connection_slots', 'counter_blocks', 'counter_windows', 'leases', 'live_nodes', 'meta', 'oidc_identities', 'oidc_login_states', 'oidc_logout_jtis', 'oidc_sessions', 'passkeys', 'recovery_codes', 'revocations', 'rule_blocks', 'secrets', 'sessions', 'signing_keys', 'totp_enrolments', 'users', 'webauthn_challenges',
    ]);
    const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(indexes).toEqual(['sessions_expires_at', 'sessions_handle', 'sessions_last_seen_at', 'sessions_user_name']);
    const counterIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'counter_windows' AND sql IS NOT NULL").pluck().all();
    expect(counterIndexes).toEqual(['counter_windows_expires_at']);
    const mfaIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('passkeys', 'webauthn_challenges') AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(mfaIndexes).toEqual(['passkeys_user_name', 'webauthn_challenges_expires_at']);
    const oidcIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name LIKE 'oidc_%' AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(oidcIndexes).toEqual(['oidc_identities_user_name', 'oidc_login_states_expires_at', 'oidc_logout_jtis_expires_at', 'oidc_sessions_issuer_sid', 'oidc_sessions_issuer_subject']);
    const keyIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'signing_keys' AND sql IS NOT NULL").pluck().all();
    expect(keyIndexes).toEqual(['signing_keys_one_active']);
    const blockIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'rule_blocks' AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(blockIndexes).toEqual(['rule_blocks_by_key', 'rule_blocks_until']);
    const revocationIndexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'revocations' AND sql IS NOT NULL").pluck().all();
    expect(revocationIndexes).toEqual(['revocations_at']);
  });

  test('the per-request block lookup reads one index only, and the purge is a range scan', () => {
    migrate(db);
    const plan = (sql: string): string => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan("SELECT max(until) FROM rule_blocks WHERE by = 'ip' AND key = 'k' AND until > 0")).toMatch(/USING COVERING INDEX rule_blocks_by_key \(by=\? AND key=\? AND until>\?\)/);
    expect(plan('DELETE FROM rule_blocks WHERE until <= 0')).toMatch(/USING (COVERING )?INDEX rule_blocks_until \(until<\?\)/);
  });

  test('the rule_blocks migration moves the blocks of counter_blocks, a session by its handle, and not the login throttle', () => {
    // Found by what it does, not its number: migrations may be renumbered when branches merge.
    const version = migrations.find((m) => m.sql.includes('CREATE TABLE rule_blocks'))!.version;
    migrate(db, migrations.slice(0, version - 1));
    db.prepare("INSERT INTO sessions VALUES ('f00dhash', 'Hndl-1', 'alice', 1, 1, 9, '192.0.2.9', 'ua', 0, 0, 0)").run();
    const old = db.prepare('INSERT INTO counter_blocks (key, until) VALUES (?, ?)');
    old.run('block:ip:192.0.2.1', 5_000);
    old.run('block:ip:2001:db8::1', 6_000);
    old.run('block:user:bob', 7_000);
    old.run('block:session:f00dhash', 8_000);
    old.run('block:session:gone', 9_000);
    old.run(`login:acct:${'a'.repeat(64)}`, 10_000);
    migrate(db);
    expect(db.prepare('SELECT rule, by, key, until FROM rule_blocks ORDER BY until').all()).toEqual([
      { rule: '(unknown)', by: 'ip', key: '192.0.2.1', until: 5_000 },
      { rule: '(unknown)', by: 'ip', key: '2001:db8::1', until: 6_000 },
      { rule: '(unknown)', by: 'user', key: 'bob', until: 7_000 },
      { rule: '(unknown)', by: 'session', key: 'Hndl-1', until: 8_000 },
    ]);
    // What was moved leaves counter_blocks; the login throttle's hold stays there, its own.
    expect(db.prepare('SELECT key FROM counter_blocks').pluck().all()).toEqual([`login:acct:${'a'.repeat(64)}`]);
  });

  test('migration 6 renames live session handles that start with "-", and only those', () => {
    migrate(db, migrations.slice(0, 5));
    const insert = db.prepare(`INSERT INTO sessions VALUES (?, ?, 'alice', 1, 1, 2, '203.0.113.7', 'ua', 0, 0, 0)`);
    const handles = ['-67XAKwsMjmU', '_67XAKwsMjmU', 'x-7XAKwsMjmU', '-taken00000A', 'Ataken00000A'];
    handles.forEach((handle, i) => insert.run(`hash${i}`, handle));
    migrate(db);
    const after = db.prepare('SELECT handle FROM sessions ORDER BY id_hash').pluck().all();
    // '-taken00000A' would collide with a live handle, so it keeps its name (reachable with `--`).
    expect(after).toEqual(['A67XAKwsMjmU', '_67XAKwsMjmU', 'x-7XAKwsMjmU', '-taken00000A', 'Ataken00000A']);
  });
});
