import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** How long a connection waits for another process's write lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5000;

/**
 * One connection to the SQLite file at `path` with the settings every Gatehouse connection needs.
 * `:memory:` (or '') gives a private in-memory database; otherwise the file and its folder are
 * created when missing. Exported for openSqliteStore and for tests that check the settings.
 */
export function openDatabase(path: string): Database.Database {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) createPrivately(path);
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    // busy_timeout first, so switching to WAL below waits for a peer instead of failing.
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // WAL: readers do not block the writer, which matters when several workers share the file.
    // https://www.sqlite.org/wal.html
    const mode = switchToWal(db);
    if (!inMemory && mode !== 'wal') throw new Error(`SQLite database ${path} could not be switched to WAL mode (it is in ${String(mode)} mode); is it on a network filesystem?`);
    // NORMAL is durable across application crashes in WAL mode; only a power loss can drop the
    // last commits, never corrupt the file. https://www.sqlite.org/pragma.html#pragma_synchronous
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * `PRAGMA journal_mode = WAL`, retried while the file is busy. On a fresh file still in rollback
 * mode, processes switching at once each hold a shared lock and want an exclusive one; SQLite then
 * answers SQLITE_BUSY at once instead of calling the busy handler, since waiting could deadlock
 * (https://www.sqlite.org/c3ref/busy_handler.html). Seen with six processes opening one new file
 * together (nodes starting, `gatehouse migrate` run twice): about one start in a hundred failed.
 * Backing off a few jittered milliseconds lets one win; the others then find WAL already set.
 */
function switchToWal(db: Database.Database): unknown {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      return db.pragma('journal_mode = WAL', { simple: true });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
      sleep(1 + Math.floor(Math.random() * 10));
    }
  }
}

/** Blocks this thread for `ms`: opening is synchronous (better-sqlite3), and this happens once per connection. */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Creates the folder (0700) and an empty database file (0600) when missing, so the file never
 * exists with the process umask's wider mode. SQLite gives its -wal and -shm files the database
 * file's permissions. An existing file is left as the operator set it.
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
