import * as client from 'openid-client';
import type { Logger } from '../log/logger.js';

/**
 * Revokes a refresh token at the provider (RFC 7009), logging a failure by the error's name and
 * code only (never a token): the caller has ended, or never kept, the session the token was for,
 * so a failure here keeps nothing alive on our side and is not the caller's to report.
 */
export async function revokeRefreshToken(config: client.Configuration, refreshToken: string, logger: Logger, context: { provider: string; session: string }, message: string): Promise<void> {
  try {
    await client.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
  } catch (error) {
    const reason = error instanceof client.ResponseBodyError ? `${error.name}:${error.error}` : error instanceof Error ? `${error.name}:${(error as { code?: string }).code ?? ''}` : 'unknown';
    logger.warn({ ...context, reason }, message);
  }
}
