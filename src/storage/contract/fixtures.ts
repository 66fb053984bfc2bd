import type { UserRecord } from '../../accounts/user-store.js';
import type { AuditEvent } from '../../audit/audit-store.js';
import type { SessionRecord } from '../../sessions/session-store.js';

/** Records for the contract suites: fixed, readable values with overrides. Times are plain numbers. */

export function userRecord(overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    name: 'alice',
    roles: ['user'],
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    locked: false,
    passwordResetRequired: false,
    mfaEnabled: false,
    createdAt: 1_000,
    lastLoginAt: null,
    ...overrides,
  };
}

export function sessionRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const idHash = overrides.idHash ?? 'a'.repeat(64);
  return {
    idHash,
    handle: `h-${idHash.slice(0, 10)}`,
    userName: 'alice',
    createdAt: 1_000,
    lastSeenAt: 1_000,
    expiresAt: 1_000 + 12 * 3_600_000,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (contract test)',
    passwordResetRequired: false,
    mfaPending: false,
    mfaCompleted: false,
    ...overrides,
  };
}

/** A distinct 64-hex-digit id hash per number, like the SHA-256 the session service stores. */
export function idHash(n: number): string {
  return n.toString(16).padStart(64, '0');
}

export function auditEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: 1_000,
    type: 'login_succeeded',
    user: 'alice',
    ip: '203.0.113.7',
    requestId: 'req-1',
    detail: {},
    ...overrides,
  };
}
