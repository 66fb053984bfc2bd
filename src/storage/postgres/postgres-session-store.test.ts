import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { silentLogger } from '../../log/logger.js';
import { usePostgres } from '../../../test/helpers/postgres.js';
import { idHash, sessionRecord } from '../contract/fixtures.js';
import { openPostgresStore, type PostgresStore } from './open-postgres-store.js';
import { purgeSql } from './postgres-session-store.js';
import { lockRevocationLog } from './postgres-revocation-log.js';

/**
 * What the contract cannot show on PostgreSQL: the interleavings that depend on READ COMMITTED's
 * row locks, forced here with a third connection that holds a row lock while the adapters queue
 * behind it, and the plans of the statements on a table of realistic size.
 */
const postgres = usePostgres();
let url: string;
let admin: pg.Client;
let store: PostgresStore;
let peer: PostgresStore;

const open = (): Promise<PostgresStore> => openPostgresStore({ postgres: url, pool: 10, timeout: 10_000 }, { env: {}, logger: silentLogger() });

beforeAll(async () => {
  url = await postgres.server.createDatabase();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});
afterAll(async () => {
  await admin.end();
});
beforeEach(async () => {
  store = await open();
  peer = await open();
  await admin.query('TRUNCATE sessions, users, revocations');
});
afterEach(async () => {
  await store.close();
  await peer.close();
});

/** Resolves once `count` backends wait for a lock. */
async function waitingForLocks(count: number): Promise<void> {
  await expect.poll(async () => (await admin.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
  )).rows[0]?.n, { timeout: 5_000, interval: 10 }).toBe(count);
}

describe('PostgresSessionStore under READ COMMITTED', () => {
  test('revocations commit in seq order: one that started later waits for an earlier one still open, so a reader never sees a later seq first', async () => {
    await store.sessions.create(sessionRecord({ idHash: idHash(1), userName: 'alice' }));
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      // Another node's revocation, stopped between taking its seq and committing.
      await other.query('BEGIN');
      await other.query(lockRevocationLog.text);
      const first = (await other.query<{ seq: string }>("INSERT INTO revocations (at, scope, subject) VALUES (0, 'user', 'bob') RETURNING seq")).rows[0]!.seq;
      const later = store.sessions.delete(idHash(1));
      await waitingForLocks(1);
      // What a reader sees meanwhile: nothing (without the lock it would see the later seq alone).
      expect((await peer.revocations.since(0)).revocations).toEqual([]);
      await other.query('COMMIT');
      const { seq } = (await later)!;
      expect(seq).toBeGreaterThan(Number(first));
      expect((await peer.revocations.since(0)).revocations.map((r) => r.seq)).toEqual([Number(first), seq]);
    } finally {
      await other.end();
    }
  });

  test('a rotation committed while a revocation of the user waits for the row is revoked too: the new id does not survive', async () => {
    await store.sessions.create(sessionRecord({ idHash: idHash(1), userName: 'alice' }));
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      // Both verbs queue behind this row lock: the rotation first, then the revocation, whose first
      // statement has by then read its snapshot, in which only the old id exists.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM sessions WHERE id_hash = $1 FOR UPDATE', [idHash(1)]);
      const rotated = store.sessions.rotate(idHash(1), idHash(2), {});
      await waitingForLocks(1);
      const revoked = peer.sessions.deleteByUser('alice');
      await waitingForLocks(2);
      await holder.query('COMMIT');
      expect(await rotated).not.toBeNull();
      expect((await revoked).count).toBe(1);
      expect(await store.sessions.list()).toEqual([]);
    } finally {
      await holder.end();
    }
  });

  test('a session touched while the purge waits for it is kept', async () => {
    await store.sessions.create(sessionRecord({ idHash: idHash(1), lastSeenAt: 1_000, expiresAt: 1_000_000 }));
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('UPDATE sessions SET last_seen_at = 9000 WHERE id_hash = $1', [idHash(1)]);
      const purged = peer.sessions.purgeExpired(10_000, 5_000);
      await waitingForLocks(1);
      await holder.query('COMMIT');
      expect(await purged).toBe(0);
      expect((await store.sessions.get(idHash(1)))?.lastSeenAt).toBe(9_000);
    } finally {
      await holder.end();
    }
  });

  test('on a table of realistic size, batches of activity in opposite orders racing revocations never deadlock', async () => {
    // Enough rows for the planner to reach each session of a batch through the primary key, in
    // the batch's order, as it would in production: an unordered multi-row update then deadlocks.
    await admin.query(`INSERT INTO sessions (id_hash, handle, user_name, created_at, last_seen_at, expires_at, ip, user_agent,
        password_reset_required, mfa_pending, mfa_completed)
      SELECT lpad(to_hex(n), 64, '0'), 'h' || n, 'user-' || (n % 50), 0, 0, 1000000, '192.0.2.1', 'ua', false, false, false
      FROM generate_series(1, 50000) AS n`);
    await admin.query('ANALYZE sessions');
    // Half of them alice's (user-0), half bob's (user-25), whose sessions the first revocation takes.
    const ids = Array.from({ length: 200 }, (_, i) => idHash(i * 25 + 25));
    for (let round = 1; round <= 15; round += 1) {
      const forward = new Map(ids.map((id) => [id, round * 10]));
      const backward = new Map([...ids].reverse().map((id) => [id, round * 10 + 1]));
      await Promise.all([store.sessions.touchAll(forward), peer.sessions.touchAll(backward), store.sessions.touchAll(backward), peer.sessions.touchAll(forward), peer.sessions.deleteByUser(`user-${round + 24}`)]);
    }
    expect((await store.sessions.get(idHash(50)))?.lastSeenAt).toBe(151);
    expect(await store.sessions.get(idHash(25))).toBeNull();
  });

  test('the purge can reach its rows through an index on each side of its OR', async () => {
    await admin.query('BEGIN');
    try {
      await admin.query('SET LOCAL enable_seqscan = off');
      const plan = (await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${purgeSql}`, [0, 0])).rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/sessions_last_seen_at/);
      expect(plan).toMatch(/sessions_expires_at/);
    } finally {
      await admin.query('ROLLBACK');
    }
  });
});
