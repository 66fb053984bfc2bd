import type pg from 'pg';
import type { IdentityRecord, LoginStateRecord, OidcSessionRecord, OidcStore } from '../../oidc/oidc-store.js';
import type { SealedEntry } from '../../secrets/resealable.js';
import { oidcTokensAad } from '../../secrets/sealed-values.js';
import { identityColumns, loginStateColumns, oidcSessionColumns, toIdentity, toLoginState, toOidcSession, type IdentityRow, type LoginStateRow, type OidcSessionRow } from '../oidc-rows.js';
import { changed, run, statement, storable } from './queries.js';

const putLoginState = statement('oidc_put_login_state', `INSERT INTO oidc_login_states (${loginStateColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`);
// Consume-once in one statement: of two callbacks with one state, one deletes the row, the other
// waits for it, re-checks and finds nothing.
const takeLoginState = statement('oidc_take_login_state', `DELETE FROM oidc_login_states WHERE state_hash = $1 AND browser_hash = $2 AND expires_at > $3 RETURNING ${loginStateColumns}`);
const purgeLoginStates = statement('oidc_purge_login_states', 'DELETE FROM oidc_login_states WHERE expires_at <= $1');
const link = statement('oidc_link', `INSERT INTO oidc_identities (${identityColumns}) VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING`);
const findIdentity = statement('oidc_find_identity', `SELECT ${identityColumns} FROM oidc_identities WHERE issuer = $1 AND subject = $2`);
const identitiesOf = statement('oidc_identities_of', `SELECT ${identityColumns} FROM oidc_identities WHERE user_name = $1 ORDER BY created_at, issuer, subject`);
const unlinkUser = statement('oidc_unlink_user', 'DELETE FROM oidc_identities WHERE user_name = $1');
const unlink = statement('oidc_unlink', 'DELETE FROM oidc_identities WHERE issuer = $1 AND subject = $2');
const putSession = statement('oidc_put_session', `INSERT INTO oidc_sessions (${oidcSessionColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (handle) DO UPDATE SET provider = excluded.provider, issuer = excluded.issuer, subject = excluded.subject, sid = excluded.sid,
    amr = excluded.amr, sealed_tokens = excluded.sealed_tokens, access_expires_at = excluded.access_expires_at, created_at = excluded.created_at,
    refresh_expires_at = excluded.refresh_expires_at`);
// KEY SHARE on the session's row: a DELETE of it (the session ending) waits for this statement's
// commit, or this statement waits for the DELETE's and then finds no row (READ COMMITTED re-check);
// an id rotation (an UPDATE) is followed. Either the tokens land before the session ends, or not at all.
const replaceSession = statement('oidc_replace_session', `UPDATE oidc_sessions SET provider = $2, issuer = $3, subject = $4, sid = $5, amr = $6,
    sealed_tokens = $7, access_expires_at = $8, created_at = $9, refresh_expires_at = $10
  WHERE handle = $1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.handle = $1 FOR KEY SHARE)`);
const getSession = statement('oidc_get_session', `SELECT ${oidcSessionColumns} FROM oidc_sessions WHERE handle = $1`);
const purgeSessions = statement('oidc_purge_sessions', 'DELETE FROM oidc_sessions o WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.handle = o.handle)');
const purgeSession = statement('oidc_purge_session', 'DELETE FROM oidc_sessions o WHERE o.handle = $1 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.handle = $1)');
const handlesBySid = statement('oidc_handles_by_sid', 'SELECT handle FROM oidc_sessions WHERE issuer = $1 AND sid = $2 ORDER BY created_at, handle');
const handlesBySubject = statement('oidc_handles_by_subject', 'SELECT handle FROM oidc_sessions WHERE issuer = $1 AND subject = $2 ORDER BY created_at, handle');
// Of two nodes taking one jti, one inserts; the other waits on the row, re-checks the WHERE and changes nothing.
const takeLogoutJti = statement('oidc_take_logout_jti', `INSERT INTO oidc_logout_jtis (jti_hash, expires_at) VALUES ($1, $2)
  ON CONFLICT (jti_hash) DO UPDATE SET expires_at = excluded.expires_at WHERE oidc_logout_jtis.expires_at <= $3`);
const purgeLogoutJtis = statement('oidc_purge_logout_jtis', 'DELETE FROM oidc_logout_jtis WHERE expires_at <= $1');
const listSealed = statement('oidc_list_sealed', 'SELECT handle, sealed_tokens FROM oidc_sessions ORDER BY handle');
const replaceSealed = statement('oidc_replace_sealed', 'UPDATE oidc_sessions SET sealed_tokens = $3 WHERE handle = $1 AND sealed_tokens = $2');

/** OidcStore on PostgreSQL: the same single-statement guarantees as the SQLite adapter. */
export class PostgresOidcStore implements OidcStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async putLoginState(r: LoginStateRecord): Promise<void> {
    await run(this.#pool, putLoginState, [r.stateHash, r.browserHash, r.provider, r.sealed, r.returnTo, r.createdAt, r.expiresAt]);
  }

  async takeLoginState(stateHash: string, browserHash: string, now: number): Promise<LoginStateRecord | null> {
    if (!storable(stateHash) || !storable(browserHash)) return null;
    const row = (await run<LoginStateRow>(this.#pool, takeLoginState, [stateHash, browserHash, now])).rows[0];
    return row ? toLoginState(row) : null;
  }

  async purgeLoginStates(now: number): Promise<number> {
    return changed(await run(this.#pool, purgeLoginStates, [now]));
  }

  async link(identity: IdentityRecord): Promise<boolean> {
    return changed(await run(this.#pool, link, [identity.issuer, identity.subject, identity.userName, identity.createdAt])) === 1;
  }

  async findIdentity(issuer: string, subject: string): Promise<IdentityRecord | null> {
    if (!storable(issuer) || !storable(subject)) return null;
    const row = (await run<IdentityRow>(this.#pool, findIdentity, [issuer, subject])).rows[0];
    return row ? toIdentity(row) : null;
  }

  async identitiesOf(userName: string): Promise<IdentityRecord[]> {
    if (!storable(userName)) return [];
    return (await run<IdentityRow>(this.#pool, identitiesOf, [userName])).rows.map(toIdentity);
  }

  async unlinkUser(userName: string): Promise<number> {
    if (!storable(userName)) return 0;
    return changed(await run(this.#pool, unlinkUser, [userName]));
  }

  async unlink(issuer: string, subject: string): Promise<boolean> {
    if (!storable(issuer) || !storable(subject)) return false;
    return changed(await run(this.#pool, unlink, [issuer, subject])) === 1;
  }

  async putSession(r: OidcSessionRecord): Promise<void> {
    await run(this.#pool, putSession, [r.handle, r.provider, r.issuer, r.subject, r.sid, r.amr, r.sealedTokens, r.accessExpiresAt, r.createdAt, r.refreshExpiresAt]);
  }

  async replaceSession(r: OidcSessionRecord): Promise<boolean> {
    if (!storable(r.handle)) return false;
    return changed(await run(this.#pool, replaceSession, [r.handle, r.provider, r.issuer, r.subject, r.sid, r.amr, r.sealedTokens, r.accessExpiresAt, r.createdAt, r.refreshExpiresAt])) === 1;
  }

  async getSession(handle: string): Promise<OidcSessionRecord | null> {
    if (!storable(handle)) return null;
    const row = (await run<OidcSessionRow>(this.#pool, getSession, [handle])).rows[0];
    return row ? toOidcSession(row) : null;
  }

  async purgeSessions(): Promise<number> {
    return changed(await run(this.#pool, purgeSessions));
  }

  async purgeSession(handle: string): Promise<boolean> {
    if (!storable(handle)) return false;
    return changed(await run(this.#pool, purgeSession, [handle])) === 1;
  }

  async handlesBySid(issuer: string, sid: string): Promise<string[]> {
    if (!storable(issuer) || !storable(sid)) return [];
    return (await run<{ handle: string }>(this.#pool, handlesBySid, [issuer, sid])).rows.map((row) => row.handle);
  }

  async handlesBySubject(issuer: string, subject: string): Promise<string[]> {
    if (!storable(issuer) || !storable(subject)) return [];
    return (await run<{ handle: string }>(this.#pool, handlesBySubject, [issuer, subject])).rows.map((row) => row.handle);
  }

  async takeLogoutJti(jtiHash: string, expiresAt: number, now: number): Promise<boolean> {
    return changed(await run(this.#pool, takeLogoutJti, [jtiHash, expiresAt, now])) === 1;
  }

  async purgeLogoutJtis(now: number): Promise<number> {
    return changed(await run(this.#pool, purgeLogoutJtis, [now]));
  }

  async listSealed(): Promise<SealedEntry[]> {
    const rows = (await run<{ handle: string; sealed_tokens: string }>(this.#pool, listSealed)).rows;
    return rows.map((row) => ({ id: row.handle, aad: oidcTokensAad(row.handle), sealed: row.sealed_tokens }));
  }

  async replaceSealed(handle: string, sealed: string, next: string): Promise<boolean> {
    if (!storable(handle)) return false;
    return changed(await run(this.#pool, replaceSealed, [handle, sealed, next])) === 1;
  }
}
