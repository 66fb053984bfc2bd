import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { openDatabase } from './open-database.js';

describe('openDatabase', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-open-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const mode = (path: string): number => statSync(path).mode & 0o777;

  test('sets WAL, busy_timeout 5000, synchronous NORMAL and foreign keys on', () => {
    const db = openDatabase(join(dir, 'g.db'));
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // 1 = NORMAL
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });

  test('creates missing parent folders 0700 and the file 0600, and its WAL files 0600', () => {
    const path = join(dir, 'nested', 'data', 'g.db');
    const db = openDatabase(path);
    try {
      db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)');
      expect(mode(join(dir, 'nested'))).toBe(0o700);
      expect(mode(join(dir, 'nested', 'data'))).toBe(0o700);
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
      expect(mode(`${path}-shm`)).toBe(0o600);
    } finally {
      db.close();
    }
  });

  test('leaves an existing folder and file as the operator set them, and keeps their data', () => {
    const folder = join(dir, 'existing');
    mkdirSync(folder, { mode: 0o750 });
    chmodSync(folder, 0o750);
    const path = join(folder, 'g.db');
    const first = openDatabase(path);
    first.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42)');
    first.close();
    chmodSync(path, 0o640);

    const again = openDatabase(path);
    try {
      expect(again.prepare('SELECT x FROM t').pluck().get()).toBe(42);
      expect(mode(folder)).toBe(0o750);
      expect(mode(path)).toBe(0o640);
    } finally {
      again.close();
    }
  });

  test(':memory: creates no file', () => {
    const db = openDatabase(':memory:');
    try {
      expect(db.prepare('SELECT 1').pluck().get()).toBe(1);
      expect(existsSync(':memory:')).toBe(false);
    } finally {
      db.close();
    }
  });

  test('a file that is not a database fails to open', () => {
    const path = join(dir, 'not-a-db');
    writeFileSync(path, 'this is not a SQLite database, just text long enough to fill a header....');
    expect(() => openDatabase(path)).toThrow();
  });
});
