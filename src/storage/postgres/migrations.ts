import type pg from 'pg';
import { SchemaTooNewError } from '../schema-too-new-error.js';

/** One step of the PostgreSQL schema. `version` counts from 1 with no gaps; `sql` may hold several statements. */
export interface PostgresMigration {
  version: number;
  description: string;
  sql: string;
}

/**
 * The PostgreSQL schema, oldest first: its own list, numbered apart from SQLite's (the engines'
 * histories differ; the ports they serve are the same). Append only: a published migration is never
 * edited, since databases already at its version would never see the change.
 *
 * Conventions (docs/decisions/0004-postgres-store.md): times and counters are BIGINT milliseconds,
 * as in the SQLite schema, so a port's numbers round-trip exactly; flags are BOOLEAN; lists are
 * text[]; keys and names compare and sort byte by byte (COLLATE "C"), as SQLite's do, whatever
 * locale the database was created with. `seq` (an identity) orders rows created in the same
 * millisecond by insertion, where SQLite uses its rowid. The counter tables serve the login throttle
 * only: rate-rule counters live in Redis (SPEC §8).
 */
export const postgresMigrations: readonly PostgresMigration[] = [
  {
    version: 1,
    description: 'users, sessions, secrets, audit events, meta',
    // sessions: the primary key serves every request's read (joined with users on their primary
    // key); the handle is unique (CLI revoke); user_name serves per-user revocation; last_seen_at
    // and expires_at let the purge visit only what it deletes (SQLite migration 5).
    sql: `
      CREATE TABLE users (
        name text COLLATE "C" PRIMARY KEY,
        roles text[] NOT NULL,
        password_hash text NOT NULL,
        locked boolean NOT NULL,
        password_reset_required boolean NOT NULL,
        mfa_enabled boolean NOT NULL,
        created_at bigint NOT NULL,
        last_login_at bigint
      );

      CREATE TABLE sessions (
        id_hash text COLLATE "C" PRIMARY KEY,
        handle text COLLATE "C" NOT NULL,
        user_name text COLLATE "C" NOT NULL,
        created_at bigint NOT NULL,
        last_seen_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        ip text NOT NULL,
        user_agent text NOT NULL,
        password_reset_required boolean NOT NULL,
        mfa_pending boolean NOT NULL,
        mfa_completed boolean NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY
      );
      CREATE UNIQUE INDEX sessions_handle ON sessions (handle);
      CREATE INDEX sessions_user_name ON sessions (user_name);
      CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);
      CREATE INDEX sessions_expires_at ON sessions (expires_at);

      CREATE TABLE secrets (
        name text COLLATE "C" PRIMARY KEY,
        sealed text NOT NULL,
        updated_at bigint NOT NULL
      );

      CREATE TABLE audit_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time bigint NOT NULL,
        type text NOT NULL,
        user_name text,
        ip text,
        request_id text,
        detail text NOT NULL
      );
      CREATE INDEX audit_events_time ON audit_events (time, id);

      CREATE TABLE meta (
        key text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'second factors: TOTP, recovery codes, passkeys, WebAuthn challenges',
    // mfa/mfa-store.ts; as SQLite migration 3. No foreign key to users: removing a user clears these
    // through MfaStore.removeAll. The passkey counter is WebAuthn's unsigned 32-bit one.
    sql: `
      CREATE TABLE totp_enrolments (
        user_name text COLLATE "C" PRIMARY KEY,
        sealed_secret text NOT NULL,
        confirmed_at bigint,
        last_step bigint,
        created_at bigint NOT NULL
      );

      CREATE TABLE recovery_codes (
        user_name text COLLATE "C" NOT NULL,
        code_hash text COLLATE "C" NOT NULL,
        used_at bigint,
        PRIMARY KEY (user_name, code_hash)
      );

      CREATE TABLE passkeys (
        id text COLLATE "C" PRIMARY KEY,
        user_name text COLLATE "C" NOT NULL,
        name text NOT NULL,
        public_key bytea NOT NULL,
        counter bigint NOT NULL CHECK (counter >= 0),
        transports text[] NOT NULL,
        created_at bigint NOT NULL,
        last_used_at bigint,
        seq bigint GENERATED ALWAYS AS IDENTITY
      );
      CREATE INDEX passkeys_user_name ON passkeys (user_name);

      CREATE TABLE webauthn_challenges (
        challenge text COLLATE "C" PRIMARY KEY,
        purpose text NOT NULL CHECK (purpose IN ('register', 'login')),
        user_name text COLLATE "C",
        expires_at bigint NOT NULL
      );
      CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);
    `,
  },
  {
    version: 3,
    description: 'signing keys for upstream assertions',
    // trust/signing-key-store.ts; as SQLite migration 4: the partial unique index admits at most one
    // active key, whatever the interleaving of writers.
    sql: `
      CREATE TABLE signing_keys (
        kid text COLLATE "C" PRIMARY KEY,
        sealed_private_key text NOT NULL,
        created_at bigint NOT NULL,
        retired_at bigint,
        published_until bigint,
        CHECK ((retired_at IS NULL) = (published_until IS NULL))
      );
      CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
    `,
  },
  {
    version: 4,
    description: 'rate-rule blocks, with the rule that set them',
    // rules/block-store.ts; as SQLite migration 7: one row per rule and key, the (by, key, until)
    // index for the per-request lookup, the until index for the purge. Keys are addresses, session
    // handles and user names: nothing derived from a cookie.
    sql: `
      CREATE TABLE rule_blocks (
        rule text COLLATE "C" NOT NULL,
        by text NOT NULL CHECK (by IN ('ip', 'session', 'user')),
        key text COLLATE "C" NOT NULL,
        until bigint NOT NULL,
        PRIMARY KEY (rule, key)
      );
      CREATE INDEX rule_blocks_by_key ON rule_blocks (by, key, until);
      CREATE INDEX rule_blocks_until ON rule_blocks (until);
    `,
  },
  {
    version: 5,
    description: 'login-throttle counters and back-off holds',
    // rules/counter-store.ts on PostgreSQL (postgres-counter-store.ts), for the login throttle: SPEC
    // §8 keeps its failures in PostgreSQL, so a Redis restart forgets none. As SQLite's
    // counter_windows (migration 8) and counter_blocks: one row per key, bucket counts in bytea; the
    // expires_at and until indexes keep the housekeeping purge a range scan. Keys are hashed account
    // names and client addresses ("login:acct:…", "login:ip:…"): nothing a user typed as a secret.
    sql: `
      CREATE TABLE counter_windows (
        key text COLLATE "C" PRIMARY KEY,
        window_ms bigint NOT NULL CHECK (window_ms >= 1),
        head bigint NOT NULL,
        counts bytea NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX counter_windows_expires_at ON counter_windows (expires_at);

      CREATE TABLE counter_blocks (
        key text COLLATE "C" PRIMARY KEY,
        until bigint NOT NULL
      );
      CREATE INDEX counter_blocks_until ON counter_blocks (until);
    `,
  },
  {
    version: 6,
    description: 'the revocation log',
    // cluster/revocation-log.ts; as SQLite migration 9. An identity is never reused; the adapters
    // append under one transaction-level advisory lock, so seqs also commit in order
    // (postgres-session-store.ts).
    sql: `
      CREATE TABLE revocations (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at bigint NOT NULL,
        scope text NOT NULL CHECK (scope IN ('session', 'user', 'all')),
        subject text COLLATE "C",
        CHECK ((scope = 'all') = (subject IS NULL))
      );
      CREATE INDEX revocations_at ON revocations (at);
    `,
  },
  {
    version: 7,
    description: 'the live serving processes',
    // cluster/node-registry.ts; as SQLite migration 10. heartbeat_at is the database's clock in
    // milliseconds, so nodes' clock skew does not matter.
    sql: `
      CREATE TABLE live_nodes (
        node_id text COLLATE "C" PRIMARY KEY,
        heartbeat_at bigint NOT NULL,
        applied_seq bigint NOT NULL CHECK (applied_seq >= 0)
      );
    `,
  },
  {
    version: 8,
    description: 'single sign-on: login states, provider identities, sessions\' tokens',
    // oidc/oidc-store.ts (SPEC §9); as SQLite migration 11.
    sql: `
      CREATE TABLE oidc_login_states (
        state_hash text COLLATE "C" PRIMARY KEY,
        browser_hash text COLLATE "C" NOT NULL,
        provider text NOT NULL,
        sealed text NOT NULL,
        return_to text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX oidc_login_states_expires_at ON oidc_login_states (expires_at);
      CREATE TABLE oidc_identities (
        issuer text COLLATE "C" NOT NULL,
        subject text COLLATE "C" NOT NULL,
        user_name text COLLATE "C" NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (issuer, subject)
      );
      CREATE INDEX oidc_identities_user_name ON oidc_identities (user_name);
      CREATE TABLE oidc_sessions (
        handle text COLLATE "C" PRIMARY KEY,
        provider text NOT NULL,
        issuer text NOT NULL,
        subject text NOT NULL,
        sid text,
        amr text[] NOT NULL,
        sealed_tokens text NOT NULL,
        access_expires_at bigint,
        created_at bigint NOT NULL
      );
    `,
  },
  {
    version: 9,
    description: 'leases for single-flight work across nodes',
    // cluster/lease-store.ts; as SQLite migration 12. expires_at is the caller's clock in milliseconds.
    sql: `
      CREATE TABLE leases (
        key text COLLATE "C" PRIMARY KEY,
        holder text NOT NULL,
        expires_at bigint NOT NULL,
        failure text
      );
      CREATE INDEX leases_expires_at ON leases (expires_at);
    `,
  },
  {
    version: 10,
    description: 'back-channel logout: seen logout token ids, and OIDC sessions by provider session and subject',
    // As SQLite migration 13.
    sql: `
      CREATE TABLE oidc_logout_jtis (
        jti_hash text COLLATE "C" PRIMARY KEY,
        expires_at bigint NOT NULL
      );
      CREATE INDEX oidc_logout_jtis_expires_at ON oidc_logout_jtis (expires_at);
      CREATE INDEX oidc_sessions_issuer_sid ON oidc_sessions (issuer, sid);
      CREATE INDEX oidc_sessions_issuer_subject ON oidc_sessions (issuer, subject);
    `,
  },
  {
    version: 11,
    description: 'when an OIDC session\'s refresh token expires',
    // oidc/refresh-expiry.ts; as SQLite migration 14. Milliseconds by the gateway's clock; NULL
    // when the provider did not say (and for sessions from before).
    sql: `
      ALTER TABLE oidc_sessions ADD COLUMN refresh_expires_at bigint;
    `,
  },
  {
    version: 12,
    description: 'open WebSockets per session, counted across nodes',
    // realtime/connection-slots.ts (decision 0015); as SQLite migration 15. A slot counts while its
    // node is live in live_nodes; taken_at is the database's clock in ms, for inspection only.
    sql: `
      CREATE TABLE connection_slots (
        slot_id text PRIMARY KEY,
        handle text NOT NULL,
        node_id text NOT NULL,
        taken_at bigint NOT NULL
      );
      CREATE INDEX connection_slots_by_handle ON connection_slots (handle);
      CREATE INDEX connection_slots_by_node ON connection_slots (node_id);
    `,
  },
];

/**
 * The key of the transaction-level advisory lock migrations run under: one per database, the same in
 * every Gatehouse ("gatehous" in ASCII). Single 64-bit keys and pairs of 32-bit keys are separate
 * key spaces in PostgreSQL, so the adapters' two-key locks never meet it.
 */
export const migrationLockKey = '7449363237540164979';

/** The one-row table that holds the schema version. */
const versionTable = 'gatehouse_schema';

/** The schema version of the database `client` is connected to; 0 when Gatehouse never migrated it. */
export async function postgresSchemaVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [versionTable]);
  if (!exists.rows[0]?.found) return 0;
  const row = await client.query<{ version: number }>(`SELECT version FROM ${versionTable}`);
  return row.rows[0]?.version ?? 0;
}

/**
 * Brings the database up to the last migration and returns the migrations this call applied, oldest
 * first (none when it was up to date, or another node got there first).
 *
 * Everything happens in ONE transaction that first takes a transaction-level advisory lock: nodes
 * starting together queue on it, and each reads the version only once it holds the lock, so every
 * migration is applied exactly once, by whichever node came first; the lock ends with the
 * transaction, even if the node dies. PostgreSQL's DDL is transactional, so a failing migration
 * leaves the schema as it was. `client` is a connection of its own, not a pool's: a migration may
 * legitimately run longer than `store.timeout`, so its timeouts are the caller's to choose.
 */
export async function migratePostgres(client: pg.ClientBase, list: readonly PostgresMigration[] = postgresMigrations): Promise<PostgresMigration[]> {
  list.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`migration ${index} has version ${migration.version}; versions must count from 1 without gaps`);
  });
  const latest = list.length;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLockKey]);
    // Created under the lock: two nodes creating it at once could otherwise collide in the catalog.
    await client.query(`CREATE TABLE IF NOT EXISTS ${versionTable} (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      version integer NOT NULL CHECK (version >= 0)
    )`);
    await client.query(`INSERT INTO ${versionTable} (version) VALUES (0) ON CONFLICT (singleton) DO NOTHING`);
    const current = (await client.query<{ version: number }>(`SELECT version FROM ${versionTable}`)).rows[0]?.version ?? 0;
    if (current > latest) throw new SchemaTooNewError(current, latest);
    const pending = list.slice(current);
    for (const migration of pending) await client.query(migration.sql);
    if (pending.length > 0) await client.query(`UPDATE ${versionTable} SET version = $1`, [latest]);
    await client.query('COMMIT');
    return pending;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
