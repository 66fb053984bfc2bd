import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayError } from '../errors/gateway-error.js';
import type { OpenedSession } from '../oidc/user-tokens.js';
import type { LiveSession } from '../sessions/session-service.js';
import type { Endpoint } from './endpoint.js';

/** What the pipeline knows about one request as it moves through the stages. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly startedAt: number;
  /** The client address (SPEC §5: socket, or right-most untrusted X-Forwarded-For behind a trusted proxy). */
  ip: string;
  method: string;
  /** Normalised path (routing/normalise-path.ts); empty until the normalise stage ran. */
  path: string;
  /** Raw query string without "?", forwarded verbatim. */
  query: string;
  endpoint: Endpoint | null;
  /** The validated session, when the endpoint looked one up. */
  live: LiveSession | null;
  /**
   * The session's OIDC record and tokens, fresh (the oidc-refresh stage); null for a session that
   * logged in locally; undefined when not looked up (no session, no provider configured, or an
   * endpoint that does not refresh).
   */
  oidc?: OpenedSession | null;
  /**
   * Why the session's due access token could not be refreshed (503 idp_unavailable): answered by a
   * route that sends the user's token; the others go on with the session (SPEC §9, decision 0012).
   */
  oidcUnavailable?: GatewayError;
  /** Whether a session cookie was presented that turned out to be unusable (it gets cleared). */
  staleCookie: boolean;
  /**
   * Told when the response closes before it finished (the client went away): the forwarder's
   * cancellation of the upstream request. One 'close' listener per request serves it and the
   * access log (server.ts).
   */
  clientGone: { cancel(): void } | null;
  /**
   * A WebSocket upgrade (SPEC §10): the raw connection and the bytes read past the request head.
   * `res` is then a response written onto that connection, so a refusal is a normal HTTP answer.
   */
  upgrade: { readonly socket: Duplex; readonly head: Buffer } | null;
}
