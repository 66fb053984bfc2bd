import { describe, expect, it } from 'vitest';
import { errorCodes } from './codes.js';
import { GatewayError, errorBody } from './gateway-error.js';

describe('error registry', () => {
  it('maps every code the SPEC names to its status', () => {
    const expected: Record<string, number> = {
      bad_request: 400, weak_password: 400, invalid_credentials: 401, unauthenticated: 401,
      csrf_rejected: 403, forbidden: 403, password_reset_required: 403, ip_blocked: 403, blocked: 403,
      not_found: 404, method_not_allowed: 405, payload_too_large: 413, uri_too_long: 414,
      too_many_attempts: 429, rate_limited: 429, headers_too_large: 431, secret_leak_blocked: 502,
      upstream_unavailable: 502, upstream_timeout: 504, mfa_required: 401, invalid_code: 400,
      mfa_already_enabled: 409, invalid_passkey: 400, too_many_passkeys: 409, misdirected_request: 421,
      idp_login_required: 403, too_many_connections: 429,
    };
    for (const [code, status] of Object.entries(expected)) {
      expect(errorCodes[code as keyof typeof errorCodes]?.status, code).toBe(status);
    }
  });

  it('gives every code a human sentence', () => {
    for (const [code, { message }] of Object.entries(errorCodes)) {
      expect(message, code).toMatch(/^[A-Z].*\.$/);
    }
  });

  it('renders the SPEC error body', () => {
    const error = new GatewayError('not_found');
    expect(JSON.parse(errorBody(error.code, error.message))).toEqual({ error: { code: 'not_found', message: 'Nothing is here.' } });
    expect(error.status).toBe(404);
  });
});
