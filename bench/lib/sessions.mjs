/**
 * Many stored sessions for the scale benchmark (bench/scale.mjs, issue 6 item 3), without logging in
 * a million times: rows are written straight into the sessions table of the gateway's SQLite file
 * before it starts, and each row's cookie value is derived from its number, so the client side can
 * recompute the cookies instead of anything storing or passing them around.
 *
 * The rows are what a real login writes (src/sessions/session-service.ts `create`, the columns of
 * migration 1 in src/storage/sqlite/migrations.ts): the stored id is the SHA-256 hex of the cookie
 * value, and the value has a real token's shape (43 chars of base64url, 32 bytes), so the gateway's
 * shape check, lookup and expiry checks treat them exactly like sessions from /auth/login.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/** The cookie value of bench session `i`: base64url(SHA-256('bench-session-' + i)), 43 chars. */
export function sessionToken(i) {
  return createHash('sha256').update(`bench-session-${i}`).digest('base64url');
}

/** What the store keeps for a cookie value: its SHA-256 in hex (src/security/hash.ts `sha256Hex`). */
function idHashOf(token) {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Writes sessions 0 … count-1 of `user` into the SQLite file at `file` (migrated, gateway not yet
 * running): one prepared INSERT in one transaction, so a million rows take seconds. Every row was
 * last seen `lastSeenAt` (before the run starts, so the first request of each session writes its
 * `touch`, as a returning user's would, and `usedSince` can tell which sessions the load reached) and
 * expires `absoluteTimeoutMs` after it. With `cookieFile`, the values of the first `cookies` of them
 * are written there (writeCookieFile). The work runs in a short-lived process of its own, so the
 * memory it takes (SQLite's cache for the bulk insert, the strings) is not in the gateway process's
 * RSS after.
 * @returns {{ seeded: number, ms: number }}
 */
export function seedSessions(file, options) {
  const started = performance.now();
  const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify({ file, ...options })], { encoding: 'utf8', timeout: 170_000 });
  if (run.status !== 0) throw new Error(`seeding ${options.count} sessions failed (${run.status ?? run.signal}): ${run.stderr}`);
  return { seeded: options.count, ms: performance.now() - started };
}

/** The seeding itself, in that process. */
function seedHere({ file, count, user, lastSeenAt, absoluteTimeoutMs, cookieFile, cookies }) {
  if (cookieFile) writeCookieFile(cookieFile, cookies);
  const db = new Database(file);
  try {
    // The index pages of a random-keyed million-row insert do not fit SQLite's default 2 MB cache.
    db.pragma('cache_size = -262144');
    // A throwaway file: nothing to make durable before the gateway opens it.
    db.pragma('synchronous = OFF');
    const insert = db.prepare(`INSERT INTO sessions
      (id_hash, handle, user_name, created_at, last_seen_at, expires_at, ip, user_agent, password_reset_required, mfa_pending, mfa_completed)
      VALUES (?, ?, ?, ?, ?, ?, '127.0.0.1', 'gatehouse-bench-seed', 0, 0, 0)`);
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        // In number order, i.e. random key order, as logins fill a real store (a B-tree built by
        // random inserts is less densely packed than a sorted bulk load would be). The handle (a
        // session's public name in lists and the CLI) only has to be unique.
        insert.run(idHashOf(sessionToken(i)), `bench-${i}`, user, lastSeenAt, lastSeenAt, lastSeenAt + absoluteTimeoutMs);
      }
    })();
  } finally {
    db.close();
  }
}

/**
 * How many of the seeded sessions (created at `lastSeenAt`, unlike the login's) a request has
 * reached: their `touch` moved `last_seen_at` past it. A read-only connection beside the running
 * gateway (WAL: it blocks nobody); a full scan, so only between rounds.
 */
export function usedSince(file, lastSeenAt) {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT count(*) AS n FROM sessions WHERE created_at = ? AND last_seen_at > ?').get(lastSeenAt, lastSeenAt).n;
  } finally {
    db.close();
  }
}

/**
 * The cookie values of sessions 0 … count-1, one a line, for bench/lib/wrk-sessions.lua (mode 0600:
 * they are live credentials of the bench gateway, if only of a throwaway one).
 */
function writeCookieFile(file, count) {
  const lines = [];
  for (let i = 0; i < count; i++) lines.push(sessionToken(i));
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

// `node sessions.mjs '{"file":…,"count":…}'`: seedSessions' process.
if (process.argv[1] === fileURLToPath(import.meta.url)) seedHere(JSON.parse(process.argv[2]));
