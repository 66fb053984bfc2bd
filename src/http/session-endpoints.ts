import { GatewayError } from '../errors/gateway-error.js';
import { buildClearingCookie } from '../security/cookies.js';
import { unrestricted, type Endpoint } from './endpoint.js';
import { auditContext, authEndpoint, iso, type AuthDeps } from './auth-support.js';
import { lastSegment } from './passkey-endpoints.js';

/** A user's own sessions (SPEC §4.5): list with the current one marked, end one, end all others. */
export function sessionEndpoints(deps: AuthDeps): { exact: Map<string, Endpoint>; byId: Endpoint } {
  const { sessions, respond } = deps;

  const list = authEndpoint({
    id: 'auth.sessions.list',
    methods: new Set(['GET', 'HEAD']),
    access: 'session',
    allows: unrestricted,
    async handle(ctx) {
      const current = ctx.live!.session;
      const mine = await sessions.list({ userName: current.userName });
      respond.json(ctx.res, 200, {
        sessions: mine.map((s) => ({
          id: s.handle,
          createdAt: iso(s.createdAt),
          lastSeenAt: iso(s.lastSeenAt),
          ip: s.ip,
          userAgent: s.userAgent,
          current: s.idHash === current.idHash,
        })),
      });
    },
  });

  const revokeOthers = authEndpoint({
    id: 'auth.sessions.revoke-others',
    methods: new Set(['POST']),
    access: 'session',
    allows: unrestricted,
    async handle(ctx) {
      const current = ctx.live!.session;
      await sessions.revokeUser(current.userName, auditContext(ctx), 'revoked_by_user', current);
      respond.empty(ctx.res, 204);
    },
  });

  const revokeOne = authEndpoint({
    id: 'auth.sessions.revoke',
    methods: new Set(['DELETE']),
    access: 'session',
    allows: unrestricted,
    async handle(ctx) {
      const current = ctx.live!.session;
      const handle = lastSegment(ctx);
      // Only the user's own sessions: another user's handle is "not found", never revoked.
      const target = (await sessions.list({ userName: current.userName })).find((s) => s.handle === handle);
      if (!target) throw new GatewayError('not_found');
      await sessions.revoke(target, auditContext(ctx), 'revoked_by_user');
      const ownCookie = target.idHash === current.idHash ? { 'set-cookie': buildClearingCookie(deps.cookie) } : undefined;
      respond.empty(ctx.res, 204, ownCookie);
    },
  });

  return { exact: new Map([['/auth/sessions', list], ['/auth/sessions/revoke-others', revokeOthers]]), byId: revokeOne };
}
