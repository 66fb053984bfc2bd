import type { AuditEvent, AuditType } from '../audit/audit-store.js';
import type { SecretRecord } from '../secrets/secret-store.js';
import type { SigningKeyRecord } from '../trust/signing-key-store.js';

/*
 * Rows that SQLite and PostgreSQL return alike (the same columns, integer milliseconds, text), and
 * the records the ports speak in: one mapping for both engines, so they cannot drift apart.
 */

export interface AuditRow {
  time: number;
  type: string;
  user_name: string | null;
  ip: string | null;
  request_id: string | null;
  detail: string;
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    time: row.time,
    type: row.type as AuditType,
    user: row.user_name,
    ip: row.ip,
    requestId: row.request_id,
    detail: JSON.parse(row.detail) as AuditEvent['detail'],
  };
}

export interface SecretRow {
  name: string;
  sealed: string;
  updated_at: number;
}

export function toSecretRecord(row: SecretRow): SecretRecord {
  return { name: row.name, sealed: row.sealed, updatedAt: row.updated_at };
}

export interface SigningKeyRow {
  kid: string;
  sealed_private_key: string;
  created_at: number;
  retired_at: number | null;
  published_until: number | null;
}

export function toSigningKeyRecord(row: SigningKeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    sealedPrivateKey: row.sealed_private_key,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
    publishedUntil: row.published_until,
  };
}
