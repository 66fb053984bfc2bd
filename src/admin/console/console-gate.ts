import type { IncomingMessage } from 'node:http';
import type { AuditContext } from '../../audit/audit-log.js';
import type { RefusalAudit } from '../../audit/refusal-audit.js';
import type { AdminConfig } from '../../config/schema.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { CidrSet } from '../../rules/address.js';
import { buildSessionCookie, readSessionCookie, type SessionCookiePolicy } from '../../security/cookies.js';
import { checkCsrf } from '../../security/csrf.js';
import type { LiveSession, SessionService } from '../../sessions/session-service.js';
import type { AdminContext } from '../admin-server.js';

/**
 * The console's own cookie: a distinct name, so the public site's session never opens the console
 * and the other way round. Secure (with the `__Host-` prefix, RFC 6265bis §4.1.3.2) exactly when the
 * admin publicOrigin is HTTPS, as the main cookie decides from server.publicOrigin.
 */
export function adminCookiePolicy(publicOrigin: string): SessionCookiePolicy {
  const secure = publicOrigin.startsWith('https:');
  return { name: secure ? '__Host-gatehouse_admin' : 'gatehouse_admin', secure, sameSite: 'strict' };
}

export { buildSessionCookie as buildAdminCookie };

export interface GateDeps {
  admin: AdminConfig;
  sessions: SessionService;
  refusals: RefusalAudit;
  cookie: SessionCookiePolicy;
}

/** Every check a console request passes before it is answered; each refusal is a GatewayError. */
export class ConsoleGate {
  readonly #deps: GateDeps;
  readonly #allow: CidrSet;

  constructor(deps: GateDeps) {
    this.#deps = deps;
    this.#allow = new CidrSet(deps.admin.allow);
  }

  /**
   * SPEC §11: only `admin.allow` may connect. The admin listener checks it first; the console checks
   * again so that mounting it on another listener never opens it wider (defence in depth).
   */
  async allowed(ctx: AdminContext): Promise<void> {
    if (this.#allow.has(ctx.ip)) return;
    await this.#deps.refusals.record('ip_blocked', 'admin_allow', { user: null, ip: ctx.ip, requestId: ctx.requestId }, { listener: 'admin' });
    throw new GatewayError('ip_blocked');
  }

  /** SPEC §4.3 with the admin origin: X-CSRF: 1, Origin (if sent) = admin.publicOrigin, Sec-Fetch-Site same-origin or none. */
  async csrf(req: IncomingMessage, ctx: AdminContext, user: string | null): Promise<void> {
    const verdict = checkCsrf({ xCsrf: req.headers['x-csrf'], origin: req.headers.origin, secFetchSite: req.headers['sec-fetch-site'] }, this.#deps.admin.publicOrigin);
    if (verdict.ok) return;
    await this.#deps.refusals.record('csrf_rejected', verdict.reason, { user, ip: ctx.ip, requestId: ctx.requestId }, { reason: verdict.reason, endpoint: 'admin.console' });
    throw new GatewayError('csrf_rejected');
  }

  /**
   * The admin's live session from the console cookie, under the public API's session rules (idle and
   * absolute expiry, revocation on the very next request: SessionService.validate). A session that
   * is no longer an admin's with a second factor (a role removed since) is refused and audited.
   */
  async session(req: IncomingMessage, ctx: AdminContext): Promise<LiveSession> {
    const found = readSessionCookie(req.headers.cookie, this.#deps.cookie.name);
    if (found.kind !== 'one') throw new GatewayError('unauthenticated');
    const live = await this.#deps.sessions.validate(found.value);
    if (!live) throw new GatewayError('unauthenticated');
    const reason = refusalOf(live);
    if (reason !== null) {
      await this.refused(ctx, live.user.name, reason);
      throw new GatewayError('forbidden');
    }
    return live;
  }

  /**
   * A refused sign-in or request of someone who may not use the console (SPEC §11: audited). A user
   * can repeat it at will with their own password or session, so it is audited at most once per
   * address, reason and minute, like the other repeatable refusals (SPEC §6).
   */
  async refused(ctx: AdminContext, user: string, reason: string): Promise<void> {
    await this.#deps.refusals.record('admin_console_refused', reason, { user, ip: ctx.ip, requestId: ctx.requestId }, { reason });
  }

  actor(ctx: AdminContext, user: string | null): AuditContext {
    return { user, ip: ctx.ip, requestId: ctx.requestId };
  }
}

/** Why a session may not use the console, or null: the role `admin` and a completed second factor (SPEC §11). */
export function refusalOf(live: LiveSession): string | null {
  if (!live.user.roles.includes('admin')) return 'not_admin';
  if (!live.session.mfaCompleted) return 'no_second_factor';
  if (live.session.passwordResetRequired) return 'password_reset_required';
  return null;
}
