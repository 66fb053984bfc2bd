import { decodeJwt } from 'jose';
import type { OidcSessionRecord } from './oidc-store.js';

/**
 * SPEC §9 "A session never outlives its refresh token": when a token response's refresh token
 * expires, in ms by the gateway's clock (`now` is when the response came), or undefined when the
 * response does not say. RFC 6749 has no field for it; what providers send:
 * - `refresh_expires_in` (Keycloak); 0 there means a token that does not expire (offline_access);
 * - `refresh_token_expires_in` (Microsoft identity platform for single-page apps, GitHub Apps,
 *   Google with time-limited access);
 * - the refresh token's own `exp`, when it is a JWT with `iat` (Keycloak's are). It is read, not
 *   verified (the provider signs it for itself, and the token is opaque to a client, RFC 6749
 *   §1.5): it came from the token endpoint over the connection openid-client authenticated, and it
 *   can only shorten the session. Counted from `iat`, so the two clocks need not agree.
 * The earliest wins.
 */
export function refreshExpiresAt(answer: Readonly<Record<string, unknown>>, now: number): number | undefined {
  const lifetimes = [seconds(answer.refresh_expires_in), seconds(answer.refresh_token_expires_in), jwtLifetime(answer.refresh_token)].filter((s): s is number => s !== undefined);
  return lifetimes.length === 0 ? undefined : now + Math.min(...lifetimes) * 1000;
}

/**
 * Whether the OIDC session is past its refresh token's lifetime at `now` (the record's
 * refreshExpiresAt, null when unknown): then it is over, whatever its access token and cookie say,
 * and is refused and ended as a refused refresh is (401 session_expired). The one check, on the
 * record alone (no tokens opened), for wherever the session's record is at hand.
 */
export function pastRefreshToken(record: Pick<OidcSessionRecord, 'refreshExpiresAt'>, now: number): boolean {
  return record.refreshExpiresAt !== null && now >= record.refreshExpiresAt;
}

function seconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function jwtLifetime(token: unknown): number | undefined {
  if (typeof token !== 'string' || token.split('.').length !== 3) return undefined;
  try {
    const { exp, iat } = decodeJwt(token);
    return typeof exp === 'number' && typeof iat === 'number' ? seconds(exp - iat) : undefined;
  } catch {
    return undefined;
  }
}
