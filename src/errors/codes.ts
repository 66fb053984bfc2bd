/**
 * The registry of stable error codes (SPEC §4). A code, once published, keeps its meaning forever;
 * a retired code is never reused. `expose: true` means the message is safe to show a browser.
 */
export const errorCodes = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  invalid_code: { status: 400, message: 'The code is not valid.' },
  invalid_passkey: { status: 400, message: 'The passkey could not be verified.' },
  /** SPEC §9: a login's returnTo that is not a path on this origin, or is under /auth/ (open redirect). */
  invalid_return_to: { status: 400, message: 'The return address must be a path on this site, outside /auth/.' },
  /** SPEC §9: the callback's state is unknown, used, expired, or another browser's. */
  oidc_state_invalid: { status: 400, message: 'This sign-in is not valid any more; start it again.' },
  /** SPEC §9: the provider's answer failed a check (issuer, nonce, audience, expiry, a refused code). */
  oidc_response_invalid: { status: 400, message: 'The identity provider\'s answer could not be accepted; start the sign-in again.' },
  /** SPEC §9: a back-channel logout token failed a check (signature, issuer, audience, iat, events, sid/sub, nonce, a replayed jti). */
  invalid_logout_token: { status: 400, message: 'The logout token is not valid.' },
  weak_password: { status: 400, message: 'The new password must be between 12 and 1024 characters long.' },
  invalid_credentials: { status: 401, message: 'The user name or password is wrong.' },
  unauthenticated: { status: 401, message: 'You need to log in.' },
  /** SPEC §9: the identity provider refused to refresh the session's tokens (invalid_grant); the session has ended. */
  session_expired: { status: 401, message: 'Your session has ended; sign in again.' },
  csrf_rejected: { status: 403, message: 'The request was refused by the cross-site request forgery check.' },
  forbidden: { status: 403, message: 'You are not allowed to do this.' },
  /** 401 for a session whose second factor is still due; 403 (step-up) on a route with `mfa: true`. */
  mfa_required: { status: 401, message: 'A second factor is required.' },
  password_reset_required: { status: 403, message: 'You must change your password first.' },
  /** SPEC §9: the user declined at the identity provider (error=access_denied). */
  oidc_access_denied: { status: 403, message: 'The sign-in was declined at the identity provider.' },
  /** SPEC §9: requireRole, and the provider's claims map to no role. */
  no_role_mapped: { status: 403, message: 'Your account at the identity provider has no role here.' },
  /** SPEC §9: a user created by a provider has no local password or factors. */
  not_local_account: { status: 403, message: 'This account signs in at its identity provider; it has no local password or factors.' },
  /** SPEC §9: the route's upstream takes the user's own token, and this session did not log in at that provider. */
  idp_login_required: { status: 403, message: 'This service needs you to sign in at its identity provider.' },
  ip_blocked: { status: 403, message: 'Requests from your address are not allowed.' },
  blocked: { status: 403, message: 'You are temporarily blocked.' },
  not_found: { status: 404, message: 'Nothing is here.' },
  method_not_allowed: { status: 405, message: 'This method is not allowed here.' },
  request_timeout: { status: 408, message: 'The request was not received in time.' },
  mfa_already_enabled: { status: 409, message: 'An authenticator app is already enrolled.' },
  too_many_passkeys: { status: 409, message: 'This account already has 10 passkeys, the most it can have; remove one to add another.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  uri_too_long: { status: 414, message: 'The request target is too long.' },
  unsupported_media_type: { status: 415, message: 'The request body must be JSON (Content-Type: application/json).' },
  /** SPEC §4.4: a Host that is neither publicOrigin's nor in server.allowedHosts (DNS rebinding). */
  misdirected_request: { status: 421, message: 'This server does not answer for that host name.' },
  too_many_attempts: { status: 429, message: 'Too many failed attempts; wait before trying again.' },
  rate_limited: { status: 429, message: 'Too many requests; slow down.' },
  /** SPEC §10: the session already has the most open WebSockets it may have (20). */
  too_many_connections: { status: 429, message: 'Too many open connections for this session; close one first.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  internal_error: { status: 500, message: 'Something went wrong inside the gateway.' },
  secret_leak_blocked: { status: 502, message: 'The upstream response was withheld because it contained a secret.' },
  upstream_unavailable: { status: 502, message: 'The upstream service is unavailable.' },
  not_ready: { status: 503, message: 'The gateway is not ready.' },
  /** SPEC §9: the identity provider cannot be reached (or failed on its side) just now. */
  idp_unavailable: { status: 503, message: 'The identity provider cannot be reached; try again shortly.' },
  /** SPEC §8: the store is down or slower than store.timeout; never 401, so an outage logs nobody out. */
  store_unavailable: { status: 503, message: 'The gateway cannot reach its store; try again shortly.' },
  upstream_timeout: { status: 504, message: 'The upstream service did not answer in time.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;
