import type pg from 'pg';
import type { ChallengePurpose, ChallengeRecord, MfaStore, PasskeyRecord, TotpRecord } from '../../mfa/mfa-store.js';
import type { Resealable, SealedEntry } from '../../secrets/resealable.js';
import { totpAad } from '../../secrets/sealed-values.js';
import { changed, run, statement, storable, transaction, type Queryable } from './queries.js';

interface TotpRow {
  user_name: string;
  sealed_secret: string;
  confirmed_at: number | null;
  created_at: number;
}

interface PasskeyRow {
  id: string;
  user_name: string;
  name: string;
  public_key: Buffer;
  counter: number;
  transports: string[];
  created_at: number;
  last_used_at: number | null;
}

interface ChallengeRow {
  challenge: string;
  purpose: string;
  user_name: string | null;
  expires_at: number;
}

const passkeyColumns = 'id, user_name, name, public_key, counter, transports, created_at, last_used_at';
const challengeColumns = 'challenge, purpose, user_name, expires_at';

/**
 * The first keys of the per-user advisory locks below ("gh" and a number): pairs of 32-bit keys
 * are a key space apart from the migrations' single 64-bit key.
 */
const recoveryCodesLock = 0x67680001;
const passkeysLock = 0x67680002;

// A fresh enrolment, or a new secret for a pending one; the WHERE leaves a confirmed enrolment
// untouched, so the row count is 0 then.
const putPendingTotp = statement('mfa_put_pending_totp', `INSERT INTO totp_enrolments (user_name, sealed_secret, confirmed_at, last_step, created_at)
  VALUES ($1, $2, NULL, NULL, $3)
  ON CONFLICT (user_name) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at
  WHERE totp_enrolments.confirmed_at IS NULL`);
const getTotp = statement('mfa_get_totp', 'SELECT user_name, sealed_secret, confirmed_at, created_at FROM totp_enrolments WHERE user_name = $1');
const confirmTotp = statement('mfa_confirm_totp', 'UPDATE totp_enrolments SET confirmed_at = $2 WHERE user_name = $1 AND confirmed_at IS NULL');
const confirmTotpSecret = statement('mfa_confirm_totp_secret', 'UPDATE totp_enrolments SET confirmed_at = $2 WHERE user_name = $1 AND confirmed_at IS NULL AND sealed_secret = $3');
// RFC 6238 §5.2: a code is accepted once; steps only move forward. Of racing uses of one step, the
// later ones wait for the row, re-check the WHERE on its new version and change nothing.
const useTotpStep = statement('mfa_use_totp_step', `UPDATE totp_enrolments SET last_step = $2
  WHERE user_name = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)`);
const removeTotp = statement('mfa_remove_totp', 'DELETE FROM totp_enrolments WHERE user_name = $1');

const lockUser = statement('mfa_lock_user', 'SELECT pg_advisory_xact_lock($1::integer, hashtext($2))');
const deleteRecoveryCodes = statement('mfa_delete_recovery_codes', 'DELETE FROM recovery_codes WHERE user_name = $1');
const insertRecoveryCodes = statement('mfa_insert_recovery_codes', 'INSERT INTO recovery_codes (user_name, code_hash, used_at) SELECT $1, unnest($2::text[]), NULL');
const consumeRecoveryCode = statement('mfa_consume_recovery_code', 'UPDATE recovery_codes SET used_at = $3 WHERE user_name = $1 AND code_hash = $2 AND used_at IS NULL');
const countRecoveryCodes = statement('mfa_count_recovery_codes', 'SELECT count(*) AS n FROM recovery_codes WHERE user_name = $1 AND used_at IS NULL');

/**
 * The count and the insert in one statement, run under the user's passkey lock (see addPasskey):
 * the lock is what makes the count current, since a statement reads the snapshot it began with.
 * Exported so a test can check its plan.
 */
export const addPasskeySql = `INSERT INTO passkeys (${passkeyColumns})
  SELECT $1, $2, $3, $4, $5, $6, $7, $8
  WHERE (SELECT count(*) FROM passkeys WHERE user_name = $2) < $9`;
const addPasskey = statement('mfa_add_passkey', addPasskeySql);
const getPasskey = statement('mfa_get_passkey', `SELECT ${passkeyColumns} FROM passkeys WHERE id = $1`);
const listPasskeys = statement('mfa_list_passkeys', `SELECT ${passkeyColumns} FROM passkeys WHERE user_name = $1 ORDER BY created_at, seq`);
// Compare-and-set: of two assertions verified against the same stored counter, one records.
const recordPasskeyUse = statement('mfa_record_passkey_use', 'UPDATE passkeys SET counter = $3, last_used_at = $4 WHERE id = $1 AND counter = $2');
const removePasskey = statement('mfa_remove_passkey', 'DELETE FROM passkeys WHERE id = $1 AND user_name = $2');

const putChallenge = statement('mfa_put_challenge', `INSERT INTO webauthn_challenges (${challengeColumns}) VALUES ($1, $2, $3, $4)`);
// The take alone decides who gets the challenge (racing takes wait for the row, then find it gone);
// the purge of expired ones rides along because `now` is known here. The two deletes touch disjoint
// rows (expires_at > $2 and <= $2), so one statement may hold both.
const takeChallenge = statement('mfa_take_challenge', `WITH taken AS (
    DELETE FROM webauthn_challenges WHERE challenge = $1 AND expires_at > $2 RETURNING ${challengeColumns}
  ), purged AS (
    DELETE FROM webauthn_challenges WHERE expires_at <= $2
  )
  SELECT ${challengeColumns} FROM taken`);
// A range scan of webauthn_challenges_expires_at: it visits only the rows it deletes.
const purgeChallenges = statement('mfa_purge_challenges', 'DELETE FROM webauthn_challenges WHERE expires_at <= $1');
// One statement, so one snapshot and one commit for the three tables.
const removeAll = statement('mfa_remove_all', `WITH totp AS (
    DELETE FROM totp_enrolments WHERE user_name = $1
  ), codes AS (
    DELETE FROM recovery_codes WHERE user_name = $1
  )
  DELETE FROM passkeys WHERE user_name = $1`);

// Master-key rotation: every TOTP secret, pending ones included; compare-and-set on the sealed value.
const listSealed = statement('mfa_list_sealed', 'SELECT user_name, sealed_secret FROM totp_enrolments ORDER BY user_name');
const replaceSealed = statement('mfa_replace_sealed', 'UPDATE totp_enrolments SET sealed_secret = $3 WHERE user_name = $1 AND sealed_secret = $2');

/**
 * MfaStore on PostgreSQL. Every consume-once verb (useTotpStep, consumeRecoveryCode,
 * recordPasskeyUse, takeChallenge) is ONE statement whose WHERE clause is the condition and whose row
 * count is the answer: under READ COMMITTED a writer that had to wait for a row re-checks the WHERE
 * on the row's newest version, so of racing callers on any nodes one wins. The two verbs whose
 * condition spans rows (the passkey limit, replacing the recovery codes) run in a transaction under
 * a per-user advisory lock instead, since a row lock cannot cover rows that do not exist yet.
 */
export class PostgresMfaStore implements MfaStore, Resealable {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async putPendingTotp(record: TotpRecord): Promise<boolean> {
    if (record.confirmedAt !== null) throw new RangeError('putPendingTotp takes a pending enrolment: confirmedAt must be null');
    return changed(await run(this.#pool, putPendingTotp, [record.userName, record.sealedSecret, record.createdAt])) === 1;
  }

  async getTotp(userName: string): Promise<TotpRecord | null> {
    if (!storable(userName)) return null;
    const row = (await run<TotpRow>(this.#pool, getTotp, [userName])).rows[0];
    return row ? { userName: row.user_name, sealedSecret: row.sealed_secret, confirmedAt: row.confirmed_at, createdAt: row.created_at } : null;
  }

  async confirmTotp(userName: string, at: number, sealedSecret?: string): Promise<boolean> {
    if (!storable(userName)) return false;
    if (sealedSecret !== undefined) return changed(await run(this.#pool, confirmTotpSecret, [userName, at, sealedSecret])) === 1;
    return changed(await run(this.#pool, confirmTotp, [userName, at])) === 1;
  }

  async useTotpStep(userName: string, step: number): Promise<boolean> {
    if (!storable(userName)) return false;
    return changed(await run(this.#pool, useTotpStep, [userName, step])) === 1;
  }

  async removeTotp(userName: string): Promise<boolean> {
    if (!storable(userName)) return false;
    return changed(await run(this.#pool, removeTotp, [userName])) === 1;
  }

  async replaceRecoveryCodes(userName: string, codeHashes: string[]): Promise<void> {
    // The generator never repeats a code, so a repeat is a caller's bug; refused before any change.
    if (new Set(codeHashes).size !== codeHashes.length) throw new RangeError('replaceRecoveryCodes: the code hashes must be distinct');
    // One transaction: the old codes stop working at the commit that starts the new ones. The lock
    // makes two replacements queue, so the later one's delete (a statement begun after the earlier
    // commit) removes the earlier one's codes instead of leaving both sets.
    await transaction(this.#pool, async (client) => {
      await lock(client, recoveryCodesLock, userName);
      await run(client, deleteRecoveryCodes, [userName]);
      if (codeHashes.length > 0) await run(client, insertRecoveryCodes, [userName, codeHashes]);
    });
  }

  async consumeRecoveryCode(userName: string, codeHash: string, at: number): Promise<boolean> {
    if (!storable(userName) || !storable(codeHash)) return false;
    return changed(await run(this.#pool, consumeRecoveryCode, [userName, codeHash, at])) === 1;
  }

  async countRecoveryCodes(userName: string): Promise<number> {
    if (!storable(userName)) return 0;
    return (await run<{ n: number }>(this.#pool, countRecoveryCodes, [userName])).rows[0]?.n ?? 0;
  }

  async addPasskey(record: PasskeyRecord, limit: number): Promise<boolean> {
    // A bare INSERT … WHERE count < limit is not enough here, as it is in SQLite (whose writers run
    // one at a time): two registrations racing for the last slot would each count the rows of their
    // own snapshot and both insert. Under the user's lock the second counts after the first commits.
    // No upsert: a credential id already registered (to anyone) is refused (WebAuthn §7.1).
    return transaction(this.#pool, async (client) => {
      await lock(client, passkeysLock, record.userName);
      const result = await run(client, addPasskey, [
        record.id, record.userName, record.name, record.publicKey, record.counter, record.transports, record.createdAt, record.lastUsedAt, limit,
      ]);
      return changed(result) === 1;
    });
  }

  async getPasskey(id: string): Promise<PasskeyRecord | null> {
    if (!storable(id)) return null;
    const row = (await run<PasskeyRow>(this.#pool, getPasskey, [id])).rows[0];
    return row ? toPasskey(row) : null;
  }

  async listPasskeys(userName: string): Promise<PasskeyRecord[]> {
    if (!storable(userName)) return [];
    return (await run<PasskeyRow>(this.#pool, listPasskeys, [userName])).rows.map(toPasskey);
  }

  async recordPasskeyUse(id: string, expectedCounter: number, newCounter: number, at: number): Promise<boolean> {
    if (!storable(id)) return false;
    return changed(await run(this.#pool, recordPasskeyUse, [id, expectedCounter, newCounter, at])) === 1;
  }

  async removePasskey(userName: string, id: string): Promise<boolean> {
    if (!storable(userName) || !storable(id)) return false;
    return changed(await run(this.#pool, removePasskey, [id, userName])) === 1;
  }

  async putChallenge(record: ChallengeRecord): Promise<void> {
    await run(this.#pool, putChallenge, [record.challenge, record.purpose, record.userName, record.expiresAt]);
  }

  async takeChallenge(challenge: string, now: number): Promise<ChallengeRecord | null> {
    if (!storable(challenge)) return null;
    const row = (await run<ChallengeRow>(this.#pool, takeChallenge, [challenge, now])).rows[0];
    return row ? { challenge: row.challenge, purpose: row.purpose as ChallengePurpose, userName: row.user_name, expiresAt: row.expires_at } : null;
  }

  async purgeChallenges(now: number): Promise<number> {
    return changed(await run(this.#pool, purgeChallenges, [now]));
  }

  async removeAll(userName: string): Promise<void> {
    if (!storable(userName)) return;
    await run(this.#pool, removeAll, [userName]);
  }

  async listSealed(): Promise<SealedEntry[]> {
    const rows = (await run<Pick<TotpRow, 'user_name' | 'sealed_secret'>>(this.#pool, listSealed)).rows;
    return rows.map((row) => ({ id: row.user_name, aad: totpAad(row.user_name), sealed: row.sealed_secret }));
  }

  async replaceSealed(userName: string, sealed: string, next: string): Promise<boolean> {
    if (!storable(userName)) return false;
    return changed(await run(this.#pool, replaceSealed, [userName, sealed, next])) === 1;
  }
}

/** Takes the transaction-level advisory lock `(namespace, hash of userName)`; released at commit or rollback. */
async function lock(client: Queryable, namespace: number, userName: string): Promise<void> {
  await run(client, lockUser, [namespace, userName]);
}

function toPasskey(row: PasskeyRow): PasskeyRecord {
  return {
    id: row.id,
    userName: row.user_name,
    name: row.name,
    publicKey: row.public_key,
    counter: row.counter,
    transports: row.transports,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}
