import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { challengeRecord } from '../contract/fixtures.js';
import { migrate } from './migrations.js';
import { openDatabase } from './open-database.js';
import { addPasskeySql, SqliteMfaStore } from './sqlite-mfa-store.js';

/**
 * What the contract cannot see through the port: expired challenges are deleted, not just ignored,
 * and the limit on passkeys is counted with the index.
 */
describe('SqliteMfaStore housekeeping', () => {
  let db: Database.Database;
  let store: SqliteMfaStore;

  beforeEach(() => {
    db = openDatabase(':memory:');
    migrate(db);
    store = new SqliteMfaStore(db);
  });
  afterEach(() => {
    db.close();
  });

  const stored = (): string[] => db.prepare('SELECT challenge FROM webauthn_challenges ORDER BY challenge').pluck().all() as string[];

  test('a take purges every challenge expired at its `now`, taken or not, and keeps the live ones', async () => {
    await store.putChallenge(challengeRecord({ challenge: 'abandoned', expiresAt: 4_000 }));
    await store.putChallenge(challengeRecord({ challenge: 'ends-now', expiresAt: 5_000 }));
    await store.putChallenge(challengeRecord({ challenge: 'live', expiresAt: 5_001 }));
    await store.putChallenge(challengeRecord({ challenge: 'taken', expiresAt: 9_000 }));
    expect(await store.takeChallenge('taken', 5_000)).not.toBeNull();
    expect(stored()).toEqual(['live']);
  });

  test('a take of an unknown or expired challenge still purges', async () => {
    await store.putChallenge(challengeRecord({ challenge: 'abandoned', expiresAt: 4_000 }));
    expect(await store.takeChallenge('unknown', 5_000)).toBeNull();
    expect(stored()).toEqual([]);
  });

  test('purgeChallenges (the housekeeping) deletes the expired rows without any take, and keeps the live ones', async () => {
    await store.putChallenge(challengeRecord({ challenge: 'abandoned', expiresAt: 4_000 }));
    await store.putChallenge(challengeRecord({ challenge: 'ends-now', expiresAt: 5_000 }));
    await store.putChallenge(challengeRecord({ challenge: 'live', expiresAt: 5_001 }));
    expect(await store.purgeChallenges(5_000)).toBe(2);
    expect(stored()).toEqual(['live']);
  });

  test('the purge is an index range scan, not a table scan', () => {
    const plan = db.prepare('EXPLAIN QUERY PLAN DELETE FROM webauthn_challenges WHERE expires_at <= ?').all(0) as { detail: string }[];
    expect(plan.map((row) => row.detail).join('\n')).toMatch(/USING (COVERING )?INDEX webauthn_challenges_expires_at/);
  });

  test("the count behind addPasskey's limit reads the user's index entries, not the table", () => {
    const row = { id: 'k', user_name: 'alice', name: 'n', public_key: Buffer.from([1]), counter: 0, transports: '[]', created_at: 1, last_used_at: null, limit: 10 };
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${addPasskeySql}`).all(row) as { detail: string }[];
    expect(plan.map((row) => row.detail).join('\n')).toMatch(/USING (COVERING )?INDEX passkeys_user_name/);
  });
});
