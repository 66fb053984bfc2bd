import type { Store } from '../storage/store.js';
import { unrestricted, type Endpoint } from './endpoint.js';
import type { Responder } from './respond.js';

const probe = { methods: new Set(['GET', 'HEAD']), access: 'public', allows: unrestricted, csrf: false, touches: false, roles: null, mfa: false } as const;

/** SPEC §4.6: liveness and readiness. Readiness means the store answers. */
export function healthEndpoints(store: Store, respond: Responder): Map<string, Endpoint> {
  return new Map<string, Endpoint>([
    ['/healthz', { ...probe, id: 'healthz', handle: async (ctx) => respond.json(ctx.res, 200, { status: 'ok' }) }],
    ['/readyz', {
      ...probe,
      id: 'readyz',
      handle: async (ctx) => {
        try {
          await store.ping();
          respond.json(ctx.res, 200, { status: 'ready' });
        } catch {
          respond.errorCode(ctx.res, 'not_ready');
        }
      },
    }],
  ]);
}
