import type { Database, Statement, Transaction } from 'better-sqlite3';
import type { ChallengePurpose, ChallengeRecord, MfaStore, PasskeyRecord, TotpRecord } from '../../mfa/mfa-store.js';
import type { Resealable, SealedEntry } from '../../secrets/resealable.js';
import { totpAad } from '../../secrets/sealed-values.js';

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
  transports: string;
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
 * The count is read inside the insert's own statement, which holds the write lock from before its
 * first read (see the class comment), so two registrations for the last slot cannot both see room.
 */
export const addPasskeySql = `INSERT INTO passkeys (${passkeyColumns})
  SELECT @id, @user_name, @name, @public_key, @counter, @transports, @created_at, @last_used_at
  WHERE (SELECT count(*) FROM passkeys WHERE user_name = @user_name) < @limit`;

/**
 * MfaStore on SQLite. Every consume-once verb (useTotpStep, consumeRecoveryCode, recordPasskeyUse,
 * takeChallenge) and the bounded addPasskey is ONE statement whose WHERE clause is the condition and
 * whose change count is the answer, so two processes on the file cannot both win: SQLite runs write
 * statements one at a time and each sees the other's commit. Never a read followed by a write.
 */
export class SqliteMfaStore implements MfaStore, Resealable {
  readonly #putPendingTotp: Statement<[string, string, number]>;
  readonly #getTotp: Statement<[string], TotpRow>;
  readonly #confirmTotp: Statement<[number, string]>;
  readonly #confirmTotpSecret: Statement<[number, string, string]>;
  readonly #useTotpStep: Statement<[number, string, number]>;
  readonly #removeTotp: Statement<[string]>;
  readonly #consumeRecoveryCode: Statement<[number, string, string]>;
  readonly #countRecoveryCodes: Statement<[string], number>;
  readonly #addPasskey: Statement<[PasskeyRow & { limit: number }]>;
  readonly #getPasskey: Statement<[string], PasskeyRow>;
  readonly #listPasskeys: Statement<[string], PasskeyRow>;
  readonly #recordPasskeyUse: Statement<[number, number, string, number]>;
  readonly #removePasskey: Statement<[string, string]>;
  readonly #putChallenge: Statement<[ChallengeRow]>;
  readonly #purgeChallenges: Statement<[number]>;
  readonly #replaceRecoveryCodes: Transaction<(userName: string, codeHashes: string[]) => void>;
  readonly #takeChallenge: Transaction<(challenge: string, now: number) => ChallengeRow | undefined>;
  readonly #removeAll: Transaction<(userName: string) => void>;
  readonly #listSealed: Statement<[], { user_name: string; sealed_secret: string }>;
  readonly #replaceSealed: Statement<[string, string, string]>;

  constructor(db: Database) {
    // A fresh enrolment, or a new secret for a pending one; the WHERE leaves a confirmed enrolment
    // untouched, so `changes` is 0 then. (A pending row has no last_step: useTotpStep needs a
    // confirmed one, and nothing turns a confirmed row back into a pending one.)
    this.#putPendingTotp = db.prepare(`INSERT INTO totp_enrolments (user_name, sealed_secret, confirmed_at, last_step, created_at)
      VALUES (?, ?, NULL, NULL, ?)
      ON CONFLICT (user_name) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at
      WHERE totp_enrolments.confirmed_at IS NULL`);
    this.#getTotp = db.prepare('SELECT user_name, sealed_secret, confirmed_at, created_at FROM totp_enrolments WHERE user_name = ?');
    this.#confirmTotp = db.prepare('UPDATE totp_enrolments SET confirmed_at = ? WHERE user_name = ? AND confirmed_at IS NULL');
    this.#confirmTotpSecret = db.prepare('UPDATE totp_enrolments SET confirmed_at = ? WHERE user_name = ? AND confirmed_at IS NULL AND sealed_secret = ?');
    // RFC 6238 §5.2: a code is accepted once. Steps only move forward, so an older step (a code
    // still inside the allowed drift window) is refused too once a newer one was used.
    this.#useTotpStep = db.prepare(`UPDATE totp_enrolments SET last_step = ?
      WHERE user_name = ? AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < ?)`);
    this.#removeTotp = db.prepare('DELETE FROM totp_enrolments WHERE user_name = ?');

    const deleteRecoveryCodes = db.prepare<[string]>('DELETE FROM recovery_codes WHERE user_name = ?');
    const insertRecoveryCode = db.prepare<[string, string]>('INSERT INTO recovery_codes (user_name, code_hash, used_at) VALUES (?, ?, NULL)');
    this.#consumeRecoveryCode = db.prepare('UPDATE recovery_codes SET used_at = ? WHERE user_name = ? AND code_hash = ? AND used_at IS NULL');
    this.#countRecoveryCodes = db.prepare<[string], number>('SELECT count(*) FROM recovery_codes WHERE user_name = ? AND used_at IS NULL').pluck();

    this.#addPasskey = db.prepare(addPasskeySql);
    this.#getPasskey = db.prepare(`SELECT ${passkeyColumns} FROM passkeys WHERE id = ?`);
    this.#listPasskeys = db.prepare(`SELECT ${passkeyColumns} FROM passkeys WHERE user_name = ? ORDER BY created_at, rowid`);
    // Compare-and-set: of two assertions verified against the same stored counter, one records.
    this.#recordPasskeyUse = db.prepare('UPDATE passkeys SET counter = ?, last_used_at = ? WHERE id = ? AND counter = ?');
    const deletePasskeys = db.prepare<[string]>('DELETE FROM passkeys WHERE user_name = ?');
    this.#removePasskey = db.prepare('DELETE FROM passkeys WHERE id = ? AND user_name = ?');

    this.#putChallenge = db.prepare(`INSERT INTO webauthn_challenges (${challengeColumns}) VALUES (@challenge, @purpose, @user_name, @expires_at)`);
    const takeChallenge = db.prepare<[string, number], ChallengeRow>(`DELETE FROM webauthn_challenges WHERE challenge = ? AND expires_at > ?
      RETURNING ${challengeColumns}`);
    // A range scan of webauthn_challenges_expires_at (migration 3): it visits only the rows it deletes.
    const purgeChallenges = db.prepare<[number]>('DELETE FROM webauthn_challenges WHERE expires_at <= ?');
    this.#purgeChallenges = purgeChallenges;

    this.#replaceRecoveryCodes = db.transaction((userName: string, codeHashes: string[]) => {
      deleteRecoveryCodes.run(userName);
      for (const codeHash of codeHashes) insertRecoveryCode.run(userName, codeHash);
    });
    // The take alone decides who gets the challenge; the purge rides along because `now` is known
    // here (putChallenge has none). The housekeeping's purgeChallenges clears the ceremonies begun
    // and never finished when no take comes.
    this.#takeChallenge = db.transaction((challenge: string, now: number) => {
      const row = takeChallenge.get(challenge, now);
      purgeChallenges.run(now);
      return row;
    });
    this.#removeAll = db.transaction((userName: string) => {
      this.#removeTotp.run(userName);
      deleteRecoveryCodes.run(userName);
      deletePasskeys.run(userName);
    });

    // Master-key rotation (secrets/resealable.ts): every TOTP secret, pending enrolments included
    // (a pending secret is confirmed later and must still open then). Compare-and-set on the sealed
    // value alone, so a concurrent re-enrolment wins and confirmation or a used step is untouched.
    this.#listSealed = db.prepare('SELECT user_name, sealed_secret FROM totp_enrolments ORDER BY user_name');
    this.#replaceSealed = db.prepare('UPDATE totp_enrolments SET sealed_secret = ? WHERE user_name = ? AND sealed_secret = ?');
  }

  async putPendingTotp(record: TotpRecord): Promise<boolean> {
    if (record.confirmedAt !== null) throw new RangeError('putPendingTotp takes a pending enrolment: confirmedAt must be null');
    return this.#putPendingTotp.run(record.userName, record.sealedSecret, record.createdAt).changes === 1;
  }

  async getTotp(userName: string): Promise<TotpRecord | null> {
    const row = this.#getTotp.get(userName);
    return row ? { userName: row.user_name, sealedSecret: row.sealed_secret, confirmedAt: row.confirmed_at, createdAt: row.created_at } : null;
  }

  async confirmTotp(userName: string, at: number, sealedSecret?: string): Promise<boolean> {
    if (sealedSecret !== undefined) return this.#confirmTotpSecret.run(at, userName, sealedSecret).changes === 1;
    return this.#confirmTotp.run(at, userName).changes === 1;
  }

  async useTotpStep(userName: string, step: number): Promise<boolean> {
    return this.#useTotpStep.run(step, userName, step).changes === 1;
  }

  async removeTotp(userName: string): Promise<boolean> {
    return this.#removeTotp.run(userName).changes === 1;
  }

  async replaceRecoveryCodes(userName: string, codeHashes: string[]): Promise<void> {
    // The generator never repeats a code, so a repeat is a caller's bug; refused before any change.
    if (new Set(codeHashes).size !== codeHashes.length) throw new RangeError('replaceRecoveryCodes: the code hashes must be distinct');
    // IMMEDIATE: the old codes stop working at the same instant the new ones start.
    this.#replaceRecoveryCodes.immediate(userName, codeHashes);
  }

  async consumeRecoveryCode(userName: string, codeHash: string, at: number): Promise<boolean> {
    return this.#consumeRecoveryCode.run(at, userName, codeHash).changes === 1;
  }

  async countRecoveryCodes(userName: string): Promise<number> {
    return this.#countRecoveryCodes.get(userName) ?? 0;
  }

  async addPasskey(record: PasskeyRecord, limit: number): Promise<boolean> {
    // No upsert: a credential id already registered (to anyone) is refused, never overwritten
    // (WebAuthn §7.1: an RP SHOULD fail a registration whose credential id is already known).
    return this.#addPasskey.run({
      id: record.id,
      user_name: record.userName,
      name: record.name,
      public_key: record.publicKey,
      counter: record.counter,
      transports: JSON.stringify(record.transports),
      created_at: record.createdAt,
      last_used_at: record.lastUsedAt,
      limit,
    }).changes === 1;
  }

  async getPasskey(id: string): Promise<PasskeyRecord | null> {
    const row = this.#getPasskey.get(id);
    return row ? toPasskey(row) : null;
  }

  async listPasskeys(userName: string): Promise<PasskeyRecord[]> {
    return this.#listPasskeys.all(userName).map(toPasskey);
  }

  async recordPasskeyUse(id: string, expectedCounter: number, newCounter: number, at: number): Promise<boolean> {
    return this.#recordPasskeyUse.run(newCounter, at, id, expectedCounter).changes === 1;
  }

  async removePasskey(userName: string, id: string): Promise<boolean> {
    return this.#removePasskey.run(id, userName).changes === 1;
  }

  async putChallenge(record: ChallengeRecord): Promise<void> {
    this.#putChallenge.run({ challenge: record.challenge, purpose: record.purpose, user_name: record.userName, expires_at: record.expiresAt });
  }

  async takeChallenge(challenge: string, now: number): Promise<ChallengeRecord | null> {
    const row = this.#takeChallenge.immediate(challenge, now);
    return row ? { challenge: row.challenge, purpose: row.purpose as ChallengePurpose, userName: row.user_name, expiresAt: row.expires_at } : null;
  }

  async purgeChallenges(now: number): Promise<number> {
    return this.#purgeChallenges.run(now).changes;
  }

  async removeAll(userName: string): Promise<void> {
    this.#removeAll.immediate(userName);
  }

  async listSealed(): Promise<SealedEntry[]> {
    return this.#listSealed.all().map((row) => ({ id: row.user_name, aad: totpAad(row.user_name), sealed: row.sealed_secret }));
  }

  async replaceSealed(userName: string, sealed: string, next: string): Promise<boolean> {
    return this.#replaceSealed.run(next, userName, sealed).changes === 1;
  }
}

function toPasskey(row: PasskeyRow): PasskeyRecord {
  return {
    id: row.id,
    userName: row.user_name,
    name: row.name,
    publicKey: row.public_key,
    counter: row.counter,
    transports: JSON.parse(row.transports) as string[],
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}
