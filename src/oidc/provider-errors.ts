import * as client from 'openid-client';
import type { ErrorCode } from '../errors/codes.js';

/**
 * What a failed exchange with a provider means for the login (SPEC §9): the user said no at the
 * provider (`access_denied`, RFC 6749 §4.1.2.1) → 403 oidc_access_denied; the provider could not be
 * reached or failed on its side (network, timeout, 5xx, its signing keys at `jwksUri` not to be had)
 * → 503 idp_unavailable; anything else — a code it refuses (`invalid_grant`: used, expired, another
 * client's), an ID token whose issuer, audience, nonce, signature or expiry is wrong, a wrong `iss`
 * parameter — → 400 oidc_response_invalid.
 */
export function classifyProviderError(error: unknown, jwksUri?: string): Extract<ErrorCode, 'oidc_access_denied' | 'idp_unavailable' | 'oidc_response_invalid'> {
  if (error instanceof client.AuthorizationResponseError) return error.error === 'access_denied' ? 'oidc_access_denied' : 'oidc_response_invalid';
  if (error instanceof client.ResponseBodyError) return error.status >= 500 ? 'idp_unavailable' : 'oidc_response_invalid';
  if (error instanceof client.ClientError) {
    // openid-client wraps a failed fetch (refused, reset, timed out) as a ClientError with the cause,
    // and an answer that is not the protocol's (an unexpected status or content type) with the Response.
    if (isNetworkFailure(error.cause)) return 'idp_unavailable';
    if (error.cause instanceof Response && (error.cause.status >= 500 || (jwksUri !== undefined && error.cause.url === jwksUri))) return 'idp_unavailable';
    return 'oidc_response_invalid';
  }
  return isNetworkFailure(error) ? 'idp_unavailable' : 'oidc_response_invalid';
}

function isNetworkFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  // undici's fetch rejects with TypeError('fetch failed') and the socket error as its cause.
  return error instanceof TypeError && /fetch failed/i.test(error.message);
}
