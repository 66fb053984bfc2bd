import type { Store } from '../storage/store.js';
import { unrestricted, type Endpoint } from './endpoint.js';
import type { Responder } from './respond.js';

const probe = { methods: new Set(['GET', 'HEAD']), access: 'public', allows: unrestricted, csrf: false, touches: false, roles: null, mfa: false } as const;

/** SPEC §4.6: liveness and readiness. Readiness means the store answers; a cache down makes it degraded. */
export function healthEndpoints(store: Store, respond: Responder): Map<string, Endpoint> {
  return new Map<string, Endpoint>([
    ['/healthz', { ...probe, id: 'healthz', handle: async (ctx) => respond.json(ctx.res, 200, { status: 'ok' }) }],
    ['/readyz', {
      ...probe,
      id: 'readyz',
      handle: async (ctx) => {
        try {
          await store.ping();
        } catch {
          respond.errorCode(ctx.res, 'not_ready');
          return;
        }
        // SPEC §8: Redis down or hung is a part down, not the store: degraded, still ready.
        const cacheUp = store.pingCache ? await store.pingCache().then(() => true, () => false) : true;
        respond.json(ctx.res, 200, cacheUp ? { status: 'ok' } : { status: 'degraded', cache: 'down' });
      },
    }],
  ]);
}
