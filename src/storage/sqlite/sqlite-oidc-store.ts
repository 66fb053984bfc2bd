import type { Database, Statement } from 'better-sqlite3';
import type { IdentityRecord, LoginStateRecord, OidcSessionRecord, OidcStore } from '../../oidc/oidc-store.js';
import type { SealedEntry } from '../../secrets/resealable.js';
import { oidcTokensAad } from '../../secrets/sealed-values.js';
import { identityColumns, loginStateColumns, oidcSessionColumns, toIdentity, toLoginState, toOidcSession, type IdentityRow, type LoginStateRow, type OidcSessionRow } from '../oidc-rows.js';

/**
 * OidcStore on SQLite. takeLoginState and link are ONE statement each whose WHERE clause (or
 * primary key) is the condition and whose result is the answer: two processes on the file cannot
 * both use one state or both link one identity.
 */
export class SqliteOidcStore implements OidcStore {
  readonly #putLoginState: Statement<[LoginStateRow]>;
  readonly #takeLoginState: Statement<[string, string, number], LoginStateRow>;
  readonly #purgeLoginStates: Statement<[number]>;
  readonly #link: Statement<[IdentityRow]>;
  readonly #findIdentity: Statement<[string, string], IdentityRow>;
  readonly #identitiesOf: Statement<[string], IdentityRow>;
  readonly #unlinkUser: Statement<[string]>;
  readonly #unlink: Statement<[string, string]>;
  readonly #putSession: Statement<[Omit<OidcSessionRow, 'amr'> & { amr: string }]>;
  readonly #replaceSession: Statement<[Omit<OidcSessionRow, 'amr'> & { amr: string }]>;
  readonly #getSession: Statement<[string], OidcSessionRow>;
  readonly #purgeSessions: Statement<[]>;
  readonly #purgeSession: Statement<[string, string]>;
  readonly #handlesBySid: Statement<[string, string], { handle: string }>;
  readonly #handlesBySubject: Statement<[string, string], { handle: string }>;
  readonly #takeLogoutJti: Statement<[string, number, number]>;
  readonly #purgeLogoutJtis: Statement<[number]>;
  readonly #listSealed: Statement<[], { handle: string; sealed_tokens: string }>;
  readonly #replaceSealed: Statement<[string, string, string]>;

  constructor(db: Database) {
    this.#putLoginState = db.prepare(`INSERT INTO oidc_login_states (${loginStateColumns}) VALUES (@state_hash, @browser_hash, @provider, @sealed, @return_to, @created_at, @expires_at)`);
    this.#takeLoginState = db.prepare(`DELETE FROM oidc_login_states WHERE state_hash = ? AND browser_hash = ? AND expires_at > ? RETURNING ${loginStateColumns}`);
    this.#purgeLoginStates = db.prepare('DELETE FROM oidc_login_states WHERE expires_at <= ?');
    this.#link = db.prepare(`INSERT INTO oidc_identities (${identityColumns}) VALUES (@issuer, @subject, @user_name, @created_at) ON CONFLICT (issuer, subject) DO NOTHING`);
    this.#findIdentity = db.prepare(`SELECT ${identityColumns} FROM oidc_identities WHERE issuer = ? AND subject = ?`);
    this.#identitiesOf = db.prepare(`SELECT ${identityColumns} FROM oidc_identities WHERE user_name = ? ORDER BY created_at, issuer, subject`);
    this.#unlinkUser = db.prepare('DELETE FROM oidc_identities WHERE user_name = ?');
    this.#unlink = db.prepare('DELETE FROM oidc_identities WHERE issuer = ? AND subject = ?');
    this.#putSession = db.prepare(`INSERT OR REPLACE INTO oidc_sessions (${oidcSessionColumns})
      VALUES (@handle, @provider, @issuer, @subject, @sid, @amr, @sealed_tokens, @access_expires_at, @created_at, @refresh_expires_at)`);
    // The session's existence is the WHERE clause: a session that ends (any DELETE FROM sessions)
    // serializes before or after this one statement, never in between.
    this.#replaceSession = db.prepare(`UPDATE oidc_sessions SET provider = @provider, issuer = @issuer, subject = @subject, sid = @sid, amr = @amr,
        sealed_tokens = @sealed_tokens, access_expires_at = @access_expires_at, created_at = @created_at, refresh_expires_at = @refresh_expires_at
      WHERE handle = @handle AND EXISTS (SELECT 1 FROM sessions WHERE handle = @handle)`);
    this.#getSession = db.prepare(`SELECT ${oidcSessionColumns} FROM oidc_sessions WHERE handle = ?`);
    this.#purgeSessions = db.prepare('DELETE FROM oidc_sessions WHERE handle NOT IN (SELECT handle FROM sessions)');
    this.#purgeSession = db.prepare('DELETE FROM oidc_sessions WHERE handle = ? AND NOT EXISTS (SELECT 1 FROM sessions WHERE handle = ?)');
    this.#handlesBySid = db.prepare('SELECT handle FROM oidc_sessions WHERE issuer = ? AND sid = ? ORDER BY created_at, handle');
    this.#handlesBySubject = db.prepare('SELECT handle FROM oidc_sessions WHERE issuer = ? AND subject = ? ORDER BY created_at, handle');
    // A row still unexpired is kept (no change: a replay); an expired one is taken over.
    this.#takeLogoutJti = db.prepare(`INSERT INTO oidc_logout_jtis (jti_hash, expires_at) VALUES (?, ?)
      ON CONFLICT (jti_hash) DO UPDATE SET expires_at = excluded.expires_at WHERE oidc_logout_jtis.expires_at <= ?`);
    this.#purgeLogoutJtis = db.prepare('DELETE FROM oidc_logout_jtis WHERE expires_at <= ?');
    this.#listSealed = db.prepare('SELECT handle, sealed_tokens FROM oidc_sessions ORDER BY handle');
    this.#replaceSealed = db.prepare('UPDATE oidc_sessions SET sealed_tokens = ? WHERE handle = ? AND sealed_tokens = ?');
  }

  async putLoginState(r: LoginStateRecord): Promise<void> {
    this.#putLoginState.run({ state_hash: r.stateHash, browser_hash: r.browserHash, provider: r.provider, sealed: r.sealed, return_to: r.returnTo, created_at: r.createdAt, expires_at: r.expiresAt });
  }

  async takeLoginState(stateHash: string, browserHash: string, now: number): Promise<LoginStateRecord | null> {
    const row = this.#takeLoginState.get(stateHash, browserHash, now);
    return row ? toLoginState(row) : null;
  }

  async purgeLoginStates(now: number): Promise<number> {
    return this.#purgeLoginStates.run(now).changes;
  }

  async link(identity: IdentityRecord): Promise<boolean> {
    return this.#link.run({ issuer: identity.issuer, subject: identity.subject, user_name: identity.userName, created_at: identity.createdAt }).changes === 1;
  }

  async findIdentity(issuer: string, subject: string): Promise<IdentityRecord | null> {
    const row = this.#findIdentity.get(issuer, subject);
    return row ? toIdentity(row) : null;
  }

  async identitiesOf(userName: string): Promise<IdentityRecord[]> {
    return this.#identitiesOf.all(userName).map(toIdentity);
  }

  async unlinkUser(userName: string): Promise<number> {
    return this.#unlinkUser.run(userName).changes;
  }

  async unlink(issuer: string, subject: string): Promise<boolean> {
    return this.#unlink.run(issuer, subject).changes === 1;
  }

  async putSession(r: OidcSessionRecord): Promise<void> {
    this.#putSession.run({ handle: r.handle, provider: r.provider, issuer: r.issuer, subject: r.subject, sid: r.sid, amr: JSON.stringify(r.amr), sealed_tokens: r.sealedTokens, access_expires_at: r.accessExpiresAt, created_at: r.createdAt, refresh_expires_at: r.refreshExpiresAt });
  }

  async replaceSession(r: OidcSessionRecord): Promise<boolean> {
    return this.#replaceSession.run({ handle: r.handle, provider: r.provider, issuer: r.issuer, subject: r.subject, sid: r.sid, amr: JSON.stringify(r.amr), sealed_tokens: r.sealedTokens, access_expires_at: r.accessExpiresAt, created_at: r.createdAt, refresh_expires_at: r.refreshExpiresAt }).changes === 1;
  }

  async getSession(handle: string): Promise<OidcSessionRecord | null> {
    const row = this.#getSession.get(handle);
    return row ? toOidcSession(row) : null;
  }

  async purgeSessions(): Promise<number> {
    return this.#purgeSessions.run().changes;
  }

  async purgeSession(handle: string): Promise<boolean> {
    return this.#purgeSession.run(handle, handle).changes === 1;
  }

  async handlesBySid(issuer: string, sid: string): Promise<string[]> {
    return this.#handlesBySid.all(issuer, sid).map((row) => row.handle);
  }

  async handlesBySubject(issuer: string, subject: string): Promise<string[]> {
    return this.#handlesBySubject.all(issuer, subject).map((row) => row.handle);
  }

  async takeLogoutJti(jtiHash: string, expiresAt: number, now: number): Promise<boolean> {
    return this.#takeLogoutJti.run(jtiHash, expiresAt, now).changes === 1;
  }

  async purgeLogoutJtis(now: number): Promise<number> {
    return this.#purgeLogoutJtis.run(now).changes;
  }

  async listSealed(): Promise<SealedEntry[]> {
    return this.#listSealed.all().map((row) => ({ id: row.handle, aad: oidcTokensAad(row.handle), sealed: row.sealed_tokens }));
  }

  async replaceSealed(handle: string, sealed: string, next: string): Promise<boolean> {
    return this.#replaceSealed.run(next, handle, sealed).changes === 1;
  }
}
