import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AssertionClaims, Verifier } from '../verify-assertion.js';
import { writeRefusal } from './refusal.js';

/** A request the middleware has verified: the claims ride along as `req.gatehouse`. */
export type GatehouseRequest<R = IncomingMessage> = R & { gatehouse?: AssertionClaims };

export type NodeGuard = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => Promise<AssertionClaims | undefined>;

/**
 * For node:http (and Connect-style `(req, res, next)` stacks). Resolves to the claims, after
 * setting `req.gatehouse` and calling `next()` if given; or answers the refusal (401, or 503 when
 * the keys cannot be fetched or the replay cache is full), resolves to `undefined` and does not
 * call `next`. An unexpected failure goes to `next(error)`, or rejects without one.
 */
export function nodeMiddleware(verifier: Verifier): NodeGuard {
  return async (req, res, next) => {
    let claims: AssertionClaims | undefined;
    try {
      const result = await verifier.verify({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      if (!result.ok) {
        writeRefusal(res, result.reason);
        return undefined;
      }
      claims = result.claims;
      (req as GatehouseRequest).gatehouse = claims;
    } catch (error) {
      if (!next) throw error;
      next(error);
      return undefined;
    }
    next?.();
    return claims;
  };
}
