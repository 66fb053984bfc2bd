import type { IdentityRecord, LoginStateRecord, OidcSessionRecord } from '../oidc/oidc-store.js';

/* Rows of the OIDC tables as both engines return them (amr: PostgreSQL text[], SQLite JSON text). */

export interface LoginStateRow {
  state_hash: string;
  browser_hash: string;
  provider: string;
  sealed: string;
  return_to: string;
  created_at: number;
  expires_at: number;
}

export interface IdentityRow {
  issuer: string;
  subject: string;
  user_name: string;
  created_at: number;
}

export interface OidcSessionRow {
  handle: string;
  provider: string;
  issuer: string;
  subject: string;
  sid: string | null;
  amr: string[] | string;
  sealed_tokens: string;
  access_expires_at: number | null;
  refresh_expires_at: number | null;
  created_at: number;
}

export const loginStateColumns = 'state_hash, browser_hash, provider, sealed, return_to, created_at, expires_at';
export const identityColumns = 'issuer, subject, user_name, created_at';
export const oidcSessionColumns = 'handle, provider, issuer, subject, sid, amr, sealed_tokens, access_expires_at, created_at, refresh_expires_at';

export function toLoginState(row: LoginStateRow): LoginStateRecord {
  return { stateHash: row.state_hash, browserHash: row.browser_hash, provider: row.provider, sealed: row.sealed, returnTo: row.return_to, createdAt: row.created_at, expiresAt: row.expires_at };
}

export function toIdentity(row: IdentityRow): IdentityRecord {
  return { issuer: row.issuer, subject: row.subject, userName: row.user_name, createdAt: row.created_at };
}

export function toOidcSession(row: OidcSessionRow): OidcSessionRecord {
  return {
    handle: row.handle,
    provider: row.provider,
    issuer: row.issuer,
    subject: row.subject,
    sid: row.sid,
    amr: typeof row.amr === 'string' ? (JSON.parse(row.amr) as string[]) : row.amr,
    sealedTokens: row.sealed_tokens,
    accessExpiresAt: row.access_expires_at,
    refreshExpiresAt: row.refresh_expires_at,
    createdAt: row.created_at,
  };
}
