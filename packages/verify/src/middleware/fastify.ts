import type { IncomingHttpHeaders } from 'node:http';
import type { AssertionClaims, Verifier } from '../verify-assertion.js';
import { refusal } from './refusal.js';

/*
 * Typed structurally, so fastify is not a dependency; fastify 4 and 5 instances fit these shapes.
 */

export interface FastifyRequestLike {
  method: string;
  url: string;
  originalUrl?: string;
  headers: IncomingHttpHeaders;
  gatehouse?: AssertionClaims | null;
}

export interface FastifyReplyLike {
  code(statusCode: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

export type FastifyOnRequest = (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<FastifyReplyLike | undefined>;

export interface FastifyInstanceLike {
  decorateRequest(name: 'gatehouse', value: null): unknown;
  addHook(name: 'onRequest', hook: FastifyOnRequest): unknown;
}

export type FastifyPluginLike = (instance: FastifyInstanceLike) => Promise<void>;

/** An `onRequest` hook: sets `request.gatehouse`, or answers the refusal before the body is read. */
export function fastifyOnRequest(verifier: Verifier): FastifyOnRequest {
  return async (request, reply) => {
    const result = await verifier.verify({ method: request.method, url: request.originalUrl ?? request.url, headers: request.headers });
    if (result.ok) {
      request.gatehouse = result.claims;
      return undefined;
    }
    const { status, headers, body } = refusal(result.reason);
    // Returning the reply tells fastify the async hook has answered (fastify docs, "Hooks").
    return reply.code(status).headers(headers).send(body);
  };
}

/**
 * `app.register(fastifyPlugin(verifier))`: the hook for every route of the instance it is
 * registered on. It skips fastify's encapsulation (as `fastify-plugin` does), so registering it on
 * the root instance protects the whole app; register it inside a plugin to protect only that
 * plugin's routes.
 */
export function fastifyPlugin(verifier: Verifier): FastifyPluginLike {
  const hook = fastifyOnRequest(verifier);
  const plugin: FastifyPluginLike = async (instance) => {
    instance.decorateRequest('gatehouse', null);
    instance.addHook('onRequest', hook);
  };
  Object.defineProperties(plugin, {
    [Symbol.for('skip-override')]: { value: true },
    [Symbol.for('fastify.display-name')]: { value: '@gatehouse/verify' },
  });
  return plugin;
}
