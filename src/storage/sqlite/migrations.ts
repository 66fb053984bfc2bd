import type { Database } from 'better-sqlite3';
import { SchemaTooNewError } from '../schema-too-new-error.js';

/** One step of the schema. `version` counts from 1 with no gaps; `sql` may hold several statements. */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * The schema, oldest first. Append only: a published migration is never edited, because databases
 * already at its version would never see the change. Tables are STRICT so a wrong type is an error,
 * not a silently coerced value; booleans are 0/1 with a CHECK.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'users, sessions, secrets, audit events, meta',
    sql: `
      CREATE TABLE users (
        name TEXT PRIMARY KEY,
        roles TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        locked INTEGER NOT NULL CHECK (locked IN (0, 1)),
        password_reset_required INTEGER NOT NULL CHECK (password_reset_required IN (0, 1)),
        mfa_enabled INTEGER NOT NULL CHECK (mfa_enabled IN (0, 1)),
        created_at INTEGER NOT NULL,
        last_login_at INTEGER
      ) STRICT;

      CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        handle TEXT NOT NULL,
        user_name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ip TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        password_reset_required INTEGER NOT NULL CHECK (password_reset_required IN (0, 1)),
        mfa_pending INTEGER NOT NULL CHECK (mfa_pending IN (0, 1)),
        mfa_completed INTEGER NOT NULL CHECK (mfa_completed IN (0, 1))
      ) STRICT;
      CREATE UNIQUE INDEX sessions_handle ON sessions (handle);
      CREATE INDEX sessions_user_name ON sessions (user_name);

      CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        sealed TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        type TEXT NOT NULL,
        user_name TEXT,
        ip TEXT,
        request_id TEXT,
        detail TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_events_time ON audit_events (time, id);

      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'rate counters: hits and blocks',
    // One row per counted hit, so a window is exact (rules/counter-store.ts). The index serves
    // every per-key window query on its own (count, min and max of `at`); no primary key, since
    // two hits of one key in the same millisecond are two rows.
    sql: `
      CREATE TABLE counter_hits (
        key TEXT NOT NULL,
        at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX counter_hits_key_at ON counter_hits (key, at);

      CREATE TABLE counter_blocks (
        key TEXT PRIMARY KEY,
        until INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    description: 'second factors: TOTP, recovery codes, passkeys, WebAuthn challenges',
    // mfa/mfa-store.ts. No foreign key to users: sessions have none either, and removing a user
    // clears these through MfaStore.removeAll. `last_step` is the time step of the last accepted
    // code (RFC 6238 §5.2), null until one is. The challenge index on expires_at keeps the purge
    // of abandoned ceremonies an index range scan.
    sql: `
      CREATE TABLE totp_enrolments (
        user_name TEXT PRIMARY KEY,
        sealed_secret TEXT NOT NULL,
        confirmed_at INTEGER,
        last_step INTEGER,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE recovery_codes (
        user_name TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        used_at INTEGER,
        UNIQUE (user_name, code_hash)
      ) STRICT;

      CREATE TABLE passkeys (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        name TEXT NOT NULL,
        public_key BLOB NOT NULL,
        counter INTEGER NOT NULL CHECK (counter >= 0),
        transports TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
      ) STRICT;
      CREATE INDEX passkeys_user_name ON passkeys (user_name);

      CREATE TABLE webauthn_challenges (
        challenge TEXT PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
        user_name TEXT,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);
    `,
  },
  {
    version: 4,
    description: 'signing keys for upstream assertions',
    // trust/signing-key-store.ts. A key is active while retired_at is NULL; the partial unique index
    // allows at most one such row, so no interleaving of writers can leave two keys signing. The
    // CHECK keeps the two retirement columns set together. No public-key column: the JWKS is derived
    // from the sealed private key, which only the master key can produce.
    sql: `
      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        sealed_private_key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER,
        published_until INTEGER,
        CHECK ((retired_at IS NULL) = (published_until IS NULL))
      ) STRICT;
      CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (retired_at IS NULL) WHERE retired_at IS NULL;
    `,
  },
  {
    version: 5,
    description: 'indexes for purging expired sessions',
    // The once-a-minute purge (SessionStore.purgeExpired: idle OR past absolute expiry) scanned the
    // whole table, blocking the event loop ~120 ms per million stored sessions. With an index on
    // each side of the OR, SQLite visits only the rows it deletes. Activity writes (batched, see
    // sessions/session-service.ts) now also move an index entry.
    sql: `
      CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);
      CREATE INDEX sessions_expires_at ON sessions (expires_at);
    `,
  },
  {
    version: 6,
    description: 'session handles no longer start with "-"',
    // Handles used to be plain base64url, so 1 in 64 started with "-" and `gatehouse session revoke
    // -67XAKwsMjmU` read it as an unknown option; new ones start with a letter or digit
    // (security/random.ts). Live ones get "A" in place of the "-". A handle is not secret and not in
    // the cookie, so renaming it logs nobody out. OR IGNORE: in the (2^-66) case that the new handle
    // is taken, that session keeps its old one, which `session revoke -- ID` still reaches.
    sql: `
      UPDATE OR IGNORE sessions SET handle = 'A' || substr(handle, 2) WHERE substr(handle, 1, 1) = '-';
    `,
  },
  {
    version: 7,
    description: 'rate-rule blocks, with the rule that set them',
    // rules/block-store.ts. One row per rule and key: "the later end wins" is one upsert. The
    // (by, key, until) index answers the per-request lookup from the index alone; the until index
    // keeps the housekeeping purge a range scan. Blocks move out of counter_blocks, whose keys
    // ("block:ip:ADDR", "block:session:ID_HASH", "block:user:NAME") did not name the rule: those
    // still stored keep running under the rule "(unknown)", which no configured rule can be named
    // (config/schema.ts namePattern), and a session's id hash becomes its handle, so the table
    // holds nothing derived from a cookie. The login throttle's back-off holds ("login:…" keys) stay
    // in counter_blocks: they belong to the counter store (CounterStore.block), not to a rule.
    sql: `
      CREATE TABLE rule_blocks (
        rule TEXT NOT NULL,
        by TEXT NOT NULL CHECK (by IN ('ip', 'session', 'user')),
        key TEXT NOT NULL,
        until INTEGER NOT NULL,
        PRIMARY KEY (rule, key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX rule_blocks_by_key ON rule_blocks (by, key, until);
      CREATE INDEX rule_blocks_until ON rule_blocks (until);

      INSERT INTO rule_blocks (rule, by, key, until)
        SELECT '(unknown)', 'ip', substr(key, 10), until FROM counter_blocks WHERE key LIKE 'block:ip:%'
        UNION ALL
        SELECT '(unknown)', 'user', substr(key, 12), until FROM counter_blocks WHERE key LIKE 'block:user:%'
        UNION ALL
        SELECT '(unknown)', 'session', s.handle, b.until FROM counter_blocks b JOIN sessions s ON b.key = 'block:session:' || s.id_hash;
      DELETE FROM counter_blocks WHERE key LIKE 'block:%';
    `,
  },
  {
    version: 8,
    description: 'rate counters in constant memory: one row of bucket counts per key',
    // rules/bucket-window.ts: a key's window is at most 61 bucket counts, so one row per key holds
    // it (`counts`: (age, count) pairs, sqlite-counter-store.ts), whatever the rule's max and its
    // traffic; counter_hits held a row per counted request. Its rows are dropped, not converted:
    // they do not say which window they were counted for, so requests counted in the minutes
    // before the upgrade are forgotten once (a client may get up to one more `max` in the first
    // window after it). `expires_at` (when every count has left the window) lets the purge delete
    // whole keys by an index range. counter_blocks (the login back-off's holds) is unchanged.
    sql: `
      DROP TABLE counter_hits;
      CREATE TABLE counter_windows (
        key TEXT PRIMARY KEY,
        window_ms INTEGER NOT NULL CHECK (window_ms >= 1),
        head INTEGER NOT NULL,
        counts BLOB NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX counter_windows_expires_at ON counter_windows (expires_at);
    `,
  },
  {
    version: 9,
    description: 'the revocation log',
    // cluster/revocation-log.ts: one row per revocation, written in the transaction that deletes
    // the sessions. AUTOINCREMENT, so a seq is never handed out twice, even after the purge has
    // deleted the newest rows' predecessors (a plain rowid reuses max + 1). Subjects are handles
    // and user names, never a session id's hash. The `at` index keeps the purge a range scan.
    sql: `
      CREATE TABLE revocations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('session', 'user', 'all')),
        subject TEXT,
        CHECK ((scope = 'all') = (subject IS NULL))
      ) STRICT;
      CREATE INDEX revocations_at ON revocations (at);
    `,
  },
  {
    version: 10,
    description: 'the live serving processes',
    // cluster/node-registry.ts: one row per serving process, rewritten at each read of the
    // revocation log; a revoker waits for every row with a recent heartbeat. heartbeat_at is the
    // database's clock in milliseconds.
    sql: `
      CREATE TABLE live_nodes (
        node_id TEXT PRIMARY KEY,
        heartbeat_at INTEGER NOT NULL,
        applied_seq INTEGER NOT NULL CHECK (applied_seq >= 0)
      ) STRICT;
    `,
  },
  {
    version: 11,
    description: 'single sign-on: login states, provider identities, sessions\' tokens',
    // oidc/oidc-store.ts (SPEC §9). Login states: only hashes of the state and of the browser's
    // cookie, the nonce and verifier sealed; purged by expires_at. Identities: (issuer, subject) is
    // the key, never an e-mail; user_name indexed for link/unlink. OIDC sessions: keyed by the
    // session's handle (stable across id rotation), the tokens sealed.
    sql: `
      CREATE TABLE oidc_login_states (
        state_hash TEXT PRIMARY KEY,
        browser_hash TEXT NOT NULL,
        provider TEXT NOT NULL,
        sealed TEXT NOT NULL,
        return_to TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX oidc_login_states_expires_at ON oidc_login_states (expires_at);
      CREATE TABLE oidc_identities (
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        user_name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (issuer, subject)
      ) STRICT;
      CREATE INDEX oidc_identities_user_name ON oidc_identities (user_name);
      CREATE TABLE oidc_sessions (
        handle TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        sid TEXT,
        amr TEXT NOT NULL,
        sealed_tokens TEXT NOT NULL,
        access_expires_at INTEGER,
        created_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 12,
    description: 'leases for single-flight work across processes',
    // cluster/lease-store.ts: one row per key while a process holds it (a token refresh), or while
    // its recorded failure is shown to the others. expires_at is the caller's clock in milliseconds.
    sql: `
      CREATE TABLE leases (
        key TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        failure TEXT
      ) STRICT;
      CREATE INDEX leases_expires_at ON leases (expires_at);
    `,
  },
  {
    version: 13,
    description: 'back-channel logout: seen logout token ids, and OIDC sessions by provider session and subject',
    // oidc/backchannel-logout.ts: a logout token's jti is accepted once (SPEC §9); the row is kept
    // while the token could still be accepted. The indexes find the sessions a logout token names.
    sql: `
      CREATE TABLE oidc_logout_jtis (
        jti_hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX oidc_logout_jtis_expires_at ON oidc_logout_jtis (expires_at);
      CREATE INDEX oidc_sessions_issuer_sid ON oidc_sessions (issuer, sid);
      CREATE INDEX oidc_sessions_issuer_subject ON oidc_sessions (issuer, subject);
    `,
  },
  {
    version: 14,
    description: 'when an OIDC session\'s refresh token expires',
    // oidc/refresh-expiry.ts: SPEC §9 "A session never outlives its refresh token". Milliseconds by
    // the gateway's clock; NULL when the provider did not say (and for sessions from before).
    sql: `
      ALTER TABLE oidc_sessions ADD COLUMN refresh_expires_at INTEGER;
    `,
  },
  {
    version: 15,
    description: 'open WebSockets per session, counted across processes',
    // realtime/connection-slots.ts (decision 0015): one row per open WebSocket of a session; it
    // counts while its node is live in live_nodes. taken_at is the database's clock in ms, for
    // inspection only. Live state: not copied by `gatehouse store copy`.
    sql: `
      CREATE TABLE connection_slots (
        slot_id TEXT PRIMARY KEY,
        handle TEXT NOT NULL,
        node_id TEXT NOT NULL,
        taken_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX connection_slots_by_handle ON connection_slots (handle);
      CREATE INDEX connection_slots_by_node ON connection_slots (node_id);
    `,
  },
];

/** The schema version a database is at (`PRAGMA user_version`; 0 for a fresh file). */
export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Brings the database up to the last migration and returns the version it is at (see applyMigrations). */
export function migrate(db: Database, list: readonly Migration[] = migrations): number {
  applyMigrations(db, list);
  return list.length;
}

/**
 * Applies the pending migrations and returns those this call applied, oldest first (none when the
 * database was up to date, or another process got there first).
 *
 * All pending migrations run in ONE transaction, so a failure leaves the schema as it was. The
 * transaction is BEGIN IMMEDIATE: it takes the write lock before reading the version, so when two
 * processes open a fresh file at once the second waits (busy_timeout), then sees the new version and
 * applies nothing. A deferred transaction would read first and could not upgrade its lock in WAL mode
 * (SQLITE_BUSY_SNAPSHOT, https://www.sqlite.org/wal.html#sometimes_queries_return_sqlite_busy_in_wal_mode).
 */
export function applyMigrations(db: Database, list: readonly Migration[] = migrations): readonly Migration[] {
  checkList(list);
  // Fast path, no lock: versions only ever grow, so a database already at the last needs nothing.
  if (pendingMigrations(db, list).length === 0) return [];

  const apply = db.transaction(() => {
    const pending = pendingMigrations(db, list);
    for (const migration of pending) db.exec(migration.sql);
    // PRAGMA takes no bound parameters; the length is a number we computed, never input.
    db.pragma(`user_version = ${list.length}`);
    return pending;
  });
  return apply.immediate();
}

/** The migrations the database has yet to apply, oldest first. Throws SchemaTooNewError for a newer database. */
export function pendingMigrations(db: Database, list: readonly Migration[] = migrations): readonly Migration[] {
  const current = schemaVersion(db);
  if (current > list.length) throw new SchemaTooNewError(current, list.length);
  return list.slice(current);
}

function checkList(list: readonly Migration[]): void {
  list.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`migration ${index} has version ${migration.version}; versions must count from 1 without gaps`);
  });
}
