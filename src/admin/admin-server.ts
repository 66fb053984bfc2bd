import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AdminConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { createResponder, type Responder } from '../http/respond.js';
import type { Logger } from '../log/logger.js';
import { errorFields } from '../log/error-fields.js';
import { canonicalIp, CidrSet } from '../rules/address.js';
import { cryptoRandom, requestIdSource } from '../security/random.js';

/** What a handler on the admin listener knows of a request, beyond Node's request and response. */
export interface AdminContext {
  readonly requestId: string;
  /** The socket's address, already inside `admin.allow` (no X-Forwarded-For is believed here). */
  readonly ip: string;
  /** The request path without its query string. */
  readonly path: string;
  readonly respond: Responder;
  readonly logger: Logger;
}

/**
 * One part of the admin listener (`/metrics`, the console at `/`): answers the request and
 * resolves true, or leaves it alone and resolves false so the next handler is asked. Handlers are
 * asked in the order given; a request none answers gets 404 not_found.
 */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, ctx: AdminContext) => Promise<boolean>;

export interface AdminServer {
  readonly port: number;
  /** e.g. http://127.0.0.1:9090 — the address it listens on. */
  readonly url: string;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

export interface AdminServerOptions {
  /** Told of each refusal by `admin.allow` before it is answered (the gateway audits it; the primary of workers, with no store, does not). */
  refused?: (ip: string, requestId: string) => Promise<void>;
}

/**
 * SPEC §11: the admin listener, on `admin.host:admin.port`, never the public port. A connection
 * from outside `admin.allow` is refused (403 ip_blocked) before any handler sees it, and the
 * address is the socket's: a proxy's X-Forwarded-For is never believed here, so no header can
 * talk a way into the operator's listener.
 */
export async function startAdminServer(config: AdminConfig, handlers: readonly AdminHandler[], logger: Logger, options: AdminServerOptions = {}): Promise<AdminServer> {
  const allow = new CidrSet(config.allow);
  const respond = createResponder(config.publicOrigin.startsWith('https:'));
  const requestIds = requestIdSource(cryptoRandom);
  const server: Server = createServer({ requireHostHeader: true, headersTimeout: 20_000, requestTimeout: 60_000, keepAliveTimeout: 5_000 }, (req, res) => {
    void answer(req, res);
  });
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = requestIds();
    const ip = canonicalIp(req.socket.remoteAddress ?? '');
    try {
      if (!allow.has(ip)) {
        logger.warn({ requestId, ip }, 'admin listener: address not in admin.allow');
        // The refusal is answered even when it cannot be recorded (the store down).
        await options.refused?.(ip, requestId).catch((error: unknown) => logger.warn({ requestId, err: errorFields(error) }, 'admin listener: could not record a refusal'));
        respond.error(res, new GatewayError('ip_blocked'), { 'x-request-id': requestId });
        return;
      }
      const url = req.url ?? '/';
      const query = url.indexOf('?');
      const ctx: AdminContext = { requestId, ip, path: query === -1 ? url : url.slice(0, query), respond, logger };
      for (const handler of handlers) {
        if (await handler(req, res, ctx)) return;
      }
      respond.error(res, new GatewayError('not_found'), { 'x-request-id': requestId });
    } catch (error) {
      logger.error({ requestId, err: errorFields(error) }, 'admin request failed');
      respond.error(res, new GatewayError('internal_error'), { 'x-request-id': requestId });
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.port, host: config.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info({ url: `http://${host}:${port}` }, 'admin listener listening');
  return {
    port,
    url: `http://${host}:${port}`,
    close: (graceMs = 5_000) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    }),
  };
}
