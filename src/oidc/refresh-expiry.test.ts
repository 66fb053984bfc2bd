import { SignJWT } from 'jose';
import { describe, expect, test } from 'vitest';
import { pastRefreshToken, refreshExpiresAt } from './refresh-expiry.js';

const now = 1_000_000;

async function jwtRefreshToken(claims: { iat?: number; exp?: number }): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' });
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(new TextEncoder().encode('a provider-side key, unknown to a relying party'));
}

describe('refreshExpiresAt: what a token response says of its refresh token\'s end', () => {
  test('Keycloak\'s refresh_expires_in and the refresh_token_expires_in others send, in seconds from the answer', () => {
    expect(refreshExpiresAt({ refresh_token: 'opaque', refresh_expires_in: 1800 }, now)).toBe(now + 1_800_000);
    expect(refreshExpiresAt({ refresh_token: 'opaque', refresh_token_expires_in: 86_400 }, now)).toBe(now + 86_400_000);
  });

  test('nothing said, 0 (Keycloak\'s offline tokens do not expire) or nonsense: unknown', () => {
    expect(refreshExpiresAt({ refresh_token: 'opaque' }, now)).toBeUndefined();
    expect(refreshExpiresAt({ refresh_token: 'opaque', refresh_expires_in: 0 }, now)).toBeUndefined();
    expect(refreshExpiresAt({ refresh_token: 'opaque', refresh_expires_in: '1800', refresh_token_expires_in: -5 }, now)).toBeUndefined();
    expect(refreshExpiresAt({ refresh_token: 'not.a.jwt' }, now)).toBeUndefined();
  });

  test('a JWT refresh token\'s exp counts from its iat (the provider\'s clock need not be ours); without iat it is not used', async () => {
    expect(refreshExpiresAt({ refresh_token: await jwtRefreshToken({ iat: 5_000, exp: 5_600 }) }, now)).toBe(now + 600_000);
    expect(refreshExpiresAt({ refresh_token: await jwtRefreshToken({ exp: 5_600 }) }, now)).toBeUndefined();
  });

  test('the earliest of what is said wins', async () => {
    expect(refreshExpiresAt({ refresh_token: await jwtRefreshToken({ iat: 5_000, exp: 5_600 }), refresh_expires_in: 1800 }, now)).toBe(now + 600_000);
    expect(refreshExpiresAt({ refresh_token: 'opaque', refresh_expires_in: 1800, refresh_token_expires_in: 300 }, now)).toBe(now + 300_000);
  });
});

describe('pastRefreshToken', () => {
  test('over at the expiry itself, not before; never for an unknown expiry', () => {
    expect(pastRefreshToken({ refreshExpiresAt: now }, now - 1)).toBe(false);
    expect(pastRefreshToken({ refreshExpiresAt: now }, now)).toBe(true);
    expect(pastRefreshToken({ refreshExpiresAt: null }, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});
