import type { AdminHandler } from './admin-server.js';
import { GatewayError } from '../errors/gateway-error.js';

/** Where the Prometheus text comes from: this process's registry, or the sum over the workers. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** SPEC §11 `GET /metrics` on the admin listener: the Prometheus text format (prom-client). */
export function metricsHandler(source: MetricsSource): AdminHandler {
  return async (req, res, ctx) => {
    if (ctx.path !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      ctx.respond.error(res, new GatewayError('method_not_allowed', { headers: { allow: 'GET, HEAD' } }), { 'x-request-id': ctx.requestId });
      return true;
    }
    const text = await source.metrics();
    res.writeHead(200, { ...ctx.respond.base, 'content-type': source.contentType, 'content-length': Buffer.byteLength(text), 'x-request-id': ctx.requestId });
    res.end(req.method === 'HEAD' ? undefined : text);
    return true;
  };
}
