import type { RequestContext } from './context.js';

/**
 * How much of a session an endpoint needs. Every endpoint declares one; a test walks the endpoint
 * table and fails on any that does not (STYLE.md principle 1).
 * - `public`: no session is looked up (login, health, static files, `public: true` routes);
 * - `optional`: a session is used when present and valid, its absence is not an error (logout);
 * - `session`: a valid session is required, else 401 `unauthenticated`.
 */
export type Access = 'public' | 'optional' | 'session';

/** Session states in which a session may reach only the endpoints that allow them (SPEC §4.1, §4.5). */
export interface RestrictedStates {
  /** The password must be changed first. */
  passwordReset: boolean;
  /** Password accepted; the enrolled second factor is still due. */
  mfaPending: boolean;
  /** Password accepted; `mfa.required` and nothing enrolled yet, so a factor must be enrolled first. */
  mfaEnrolment: boolean;
}

export interface Endpoint {
  /** Stable name for logs and tests: `auth.login`, `route[2]`, `static`, `healthz`. */
  readonly id: string;
  readonly methods: ReadonlySet<string>;
  readonly access: Access;
  readonly allows: RestrictedStates;
  /** X-CSRF / Origin / Sec-Fetch-Site checks (SPEC §4.3). */
  readonly csrf: boolean;
  /**
   * Whether a request counts as session activity (GET /auth/session does not); such a request also
   * refreshes an OIDC session's due access token first (pipeline stage `oidc-refresh`).
   */
  readonly touches: boolean;
  /** A logged-in user needs one of these roles; null for no role check. */
  readonly roles: readonly string[] | null;
  /**
   * Step-up: `true` (route `mfa: true`) — the session must have completed a second factor;
   * `'if-enrolled'` — only when the user has one (adding a factor to an account that has one: else
   * a stolen password-only session could plant its own passkey and keep access for good).
   */
  readonly mfa: boolean | 'if-enrolled';
  /**
   * The endpoint writes `X-Request-Id` into the headers it passes to `writeHead` (the proxy);
   * otherwise the pipeline sets it on the response before `handle` runs. A header set early makes
   * Node merge every later `writeHead` through `setHeader`, the slow path, on the hottest route.
   */
  readonly writesRequestId?: boolean;
  handle(ctx: RequestContext): Promise<void>;
  /**
   * Route `websocket: true` (SPEC §10): takes an upgrade that passed every stage. It throws a
   * GatewayError only before the client's handshake is answered; after that it ends the socket itself.
   */
  readonly websocket?: ((ctx: RequestContext) => Promise<void>) | null;
}

export const unrestricted: RestrictedStates = { passwordReset: false, mfaPending: false, mfaEnrolment: false };
export const anyState: RestrictedStates = { passwordReset: true, mfaPending: true, mfaEnrolment: true };
