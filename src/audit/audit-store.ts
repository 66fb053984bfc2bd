/** The kinds of security events SPEC §6 requires. */
export type AuditType =
  | 'login_succeeded'
  | 'login_failed'
  | 'logout'
  | 'session_revoked'
  | 'password_changed'
  | 'password_reset_required'
  | 'user_created'
  | 'user_removed'
  | 'user_locked'
  | 'user_unlocked'
  | 'secret_set'
  | 'secret_removed'
  | 'csrf_rejected'
  | 'rate_limit_triggered'
  /** A rate-rule block lifted before its end (`gatehouse block remove`): detail.rule, by, key, until, removedBy. */
  | 'block_removed'
  /** Login protection (SPEC §5) started for an account or a client address: once per start, not per refusal. */
  | 'login_throttled'
  | 'ip_blocked'
  | 'secret_leak_blocked'
  /** A second factor (TOTP, detail.method) was confirmed and enabled. */
  | 'mfa_enrolled'
  /** A second factor was removed: detail.method is 'totp' or 'all' (mfa-reset). */
  | 'mfa_removed'
  /** A second factor was proven: detail.method is 'totp', 'recovery_code' or 'passkey'. */
  | 'mfa_verified'
  /** A second-factor attempt failed: detail.method and a non-secret detail.reason. */
  | 'mfa_failed'
  | 'recovery_code_used'
  | 'passkey_registered'
  | 'passkey_removed'
  /** `gatehouse keys rotate` (SPEC §7): detail.kid is the new key, detail.retired the replaced one(s), detail.publishedUntil the end of their grace period. */
  | 'signing_key_rotated'
  /** `gatehouse secret rotate-master-key` (SPEC §7): detail.keyId is the first master key, detail.resealed/alreadyCurrent the counts. */
  | 'master_key_rotated'
  /** A login at an OpenID provider was refused (SPEC §9): detail.provider, detail.code (the error code answered). Success is login_succeeded with detail.method 'oidc'. */
  | 'oidc_login_failed'
  /** `gatehouse user link-oidc` / `unlink-oidc`: detail.user, and the provider and issuer, or the count removed. */
  /** A back-channel logout token was accepted (SPEC §9): detail.provider, detail.by ('sid' or 'sub'), detail.sessions ended. */
  | 'oidc_backchannel_logout'
  /** A back-channel logout token was refused: detail.provider and a fixed detail.reason (never the token or a claim). */
  | 'oidc_backchannel_logout_refused'
  /** The admin console refused a sign-in or a request (SPEC §11): detail.reason ('not_admin', 'no_second_factor', …). */
  | 'admin_console_refused'
  | 'oidc_identity_linked'
  | 'oidc_identity_unlinked';

/** One security event. Never holds a password, cookie, token or secret value. */
export interface AuditEvent {
  time: number;
  type: AuditType;
  user: string | null;
  ip: string | null;
  requestId: string | null;
  detail: Record<string, string | number | boolean | null>;
}

/** The audit store port: append-only. */
export interface AuditStore {
  append(event: AuditEvent): Promise<void>;
  /** Newest first, at most `limit`. */
  recent(limit: number): Promise<AuditEvent[]>;
}
