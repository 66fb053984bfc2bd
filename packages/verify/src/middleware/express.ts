import type { IncomingHttpHeaders } from 'node:http';
import type { AssertionClaims, Verifier } from '../verify-assertion.js';
import { writeRefusal, type ResponseLike } from './refusal.js';

/** The part of an Express request the middleware reads; typed structurally, so Express is not a dependency. */
export interface ExpressRequestLike {
  method: string;
  url: string;
  /** The URL before a mount path was stripped (`app.use('/api', …)`): what the gateway signed. */
  originalUrl?: string;
  headers: IncomingHttpHeaders;
  gatehouse?: AssertionClaims;
}

export type ExpressHandler = (req: ExpressRequestLike, res: ResponseLike, next: (error?: unknown) => void) => void;

/**
 * Express 4 and 5 middleware: sets `req.gatehouse` and calls `next()`, or answers the refusal.
 * It never returns a rejected promise (Express 4 would not catch it): failures go to `next(error)`.
 */
export function expressMiddleware(verifier: Verifier): ExpressHandler {
  return (req, res, next) => {
    verifier.verify({ method: req.method, url: req.originalUrl ?? req.url, headers: req.headers }).then((result) => {
      if (!result.ok) {
        writeRefusal(res, result.reason);
        return;
      }
      req.gatehouse = result.claims;
      next();
    }, next);
  };
}
