import type { UserRecord } from '../../accounts/user-store.js';
import type { AuditEvent } from '../../audit/audit-store.js';
import type { ChallengeRecord, PasskeyRecord, TotpRecord } from '../../mfa/mfa-store.js';
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

/** A pending TOTP enrolment; `sealedSecret` has the shape of a secrets/envelope.ts value. */
export function totpRecord(overrides: Partial<TotpRecord> = {}): TotpRecord {
  return {
    userName: 'alice',
    sealedSecret: 'v1.0011223344556677.bm9uY2U.dG90cC1zZWNyZXQ.dGFn',
    confirmedAt: null,
    createdAt: 1_000,
    ...overrides,
  };
}

/** A distinct 64-hex-digit recovery code hash per number, like the SHA-256 mfa/recovery-codes.ts stores. */
export function codeHash(n: number): string {
  return `c${n.toString(16).padStart(63, '0')}`;
}

export function passkeyRecord(overrides: Partial<PasskeyRecord> = {}): PasskeyRecord {
  return {
    id: 'Y3JlZGVudGlhbC1pZC0x',
    userName: 'alice',
    name: 'Security key',
    // A COSE_Key map's first bytes and a few more: every byte value a BLOB must keep, zeros included.
    publicKey: Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x00, 0xff, 0x00, 0x7f]),
    counter: 0,
    transports: ['usb', 'nfc'],
    createdAt: 1_000,
    lastUsedAt: null,
    ...overrides,
  };
}

export function challengeRecord(overrides: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return {
    challenge: 'Y2hhbGxlbmdlLTMyLWJ5dGVzLW9mLXJhbmRvbW5lc3M',
    purpose: 'login',
    userName: null,
    expiresAt: 10_000,
    ...overrides,
  };
}
