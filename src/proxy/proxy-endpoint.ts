import type { Readable } from 'node:stream';
import type { AuditLog } from '../audit/audit-log.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { RequestContext } from '../http/context.js';
import { unrestricted, type Endpoint } from '../http/endpoint.js';
import type { Logger } from '../log/logger.js';
import type { CompiledRoute } from '../routing/route-table.js';
import type { UpstreamAssertion } from '../trust/assertion.js';
import { BodyLimit } from './body-limit.js';
import type { TokenExchangeConfig } from '../config/schema.js';
import type { OpenedSession } from '../oidc/token-refresher.js';
import type { TokenExchanger } from '../oidc/token-exchanger.js';
import { userTokenCredential, withQueryCredential } from './credential.js';
import type { OpenConnections } from '../realtime/open-connections.js';
import { Cancellation, isEventStream, type Forwarder } from './forwarder.js';
import { containsAny, HeaderLeakCheck, LeakGuard } from './leak-guard.js';
import { upstreamRequestHeaders } from './request-headers.js';
import { clientResponseHeaders } from './response-headers.js';
import type { ReadyCredential, UpstreamCredentials } from './upstream-credentials.js';

export interface ProxyDeps {
  forwarder: Forwarder;
  credentials: UpstreamCredentials;
  audit: AuditLog;
  logger: Logger;
  maxBodySize: number;
  /** `server.publicOrigin`, for X-Forwarded-Proto/Host. */
  publicOrigin: string;
  /** For an upstream with `assertion: true`: signs the Gatehouse-Assertion header (SPEC §7). */
  assertion?: UpstreamAssertion | null;
  /** For a `user-token` upstream with `exchange`: trades the session's token for the upstream's (RFC 8693). */
  exchanger?: TokenExchanger | null;
  /** Where open event streams are registered by session, so that they can be found and closed (SPEC §10). */
  openConnections?: OpenConnections | null;
  /** Told how long the upstream took to answer with its headers, in seconds (SPEC §11 metrics). */
  upstreamAnswered?: ((seconds: number) => void) | null;
}

/** The endpoint for one configured route: declares its access level from the route's config. */
export function proxyEndpoint(index: number, route: CompiledRoute, deps: ProxyDeps): Endpoint {
  const config = route.config;
  return {
    id: `route[${index}]`,
    methods: route.methods,
    access: config.public ? 'public' : 'session',
    allows: unrestricted,
    csrf: config.csrf,
    touches: true,
    writesRequestId: true,
    roles: config.roles && config.roles.length > 0 ? config.roles : null,
    mfa: config.mfa,
    handle: (ctx) => forward(ctx, route, deps),
  };
}

async function forward(ctx: RequestContext, route: CompiledRoute, deps: ProxyDeps): Promise<void> {
  const { req, res } = ctx;
  const credential = await credentialFor(ctx, route, deps);

  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > deps.maxBodySize) throw new GatewayError('payload_too_large');

  const cancel = new Cancellation();
  ctx.clientGone = cancel;

  const path = route.upstreamPath(ctx.path);
  const requestHeaders = upstreamRequestHeaders(req.headers, {
    clientIp: ctx.ip,
    publicOrigin: deps.publicOrigin,
    requestId: ctx.requestId,
    credential,
  });
  // upstreamRequestHeaders dropped any gatehouse-assertion the client sent: only the forwarder's
  // are forwarded, one signed for each attempt.
  const signer = deps.assertion;
  const assertion = signer ? () => signer.sign({ method: ctx.method, path, live: ctx.live }) : null;

  let requestBody: Readable | null = null;
  let limit: BodyLimit | null = null;
  if ((declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined) {
    limit = new BodyLimit(deps.maxBodySize);
    requestBody = req.pipe(limit);
  }

  let upstream;
  const sent = performance.now();
  try {
    upstream = await deps.forwarder.forward({
      method: ctx.method,
      path,
      query: credential.queryParam ? withQueryCredential(ctx.query, credential.queryParam) : ctx.query,
      headers: requestHeaders,
      body: requestBody,
      requestId: ctx.requestId,
      cancel,
      assertion,
    });
  } catch (error) {
    if (limit?.exceeded) throw new GatewayError('payload_too_large');
    // The browser learns only 502/504; the operator needs the cause (refused, reset, certificate).
    if (error instanceof GatewayError && error.cause !== undefined) {
      const cause = error.cause as NodeJS.ErrnoException;
      deps.logger.warn({ requestId: ctx.requestId, upstream: route.config.upstream, code: error.code, cause: { code: cause.code, message: cause.message } }, 'upstream request failed');
    }
    throw error;
  }
  deps.upstreamAnswered?.((performance.now() - sent) / 1000);

  if (credential.headerCheck.leaks(upstream.headers)) {
    discard(upstream.body);
    leakBlocked(ctx, deps, route, 'headers');
    throw new GatewayError('secret_leak_blocked');
  }
  const headers = clientResponseHeaders(upstream.headers);
  headers['x-request-id'] = ctx.requestId;

  const body = upstream.body;
  if (Buffer.isBuffer(body)) {
    // The forwarder collected it whole (small, of known length): searched once, sent in one write
    // with its headers, and a leak is always a clean 502.
    if (containsAny(body, credential.leakPatterns)) {
      leakBlocked(ctx, deps, route, 'body');
      throw new GatewayError('secret_leak_blocked');
    }
    res.writeHead(upstream.statusCode, headers);
    res.end(body.length === 0 ? undefined : body);
    return;
  }

  if (isEventStream(upstream.headers['content-type'])) return relayEventStream(ctx, deps, route, upstream.statusCode, headers, body, credential.leakPatterns);

  // Streamed: nothing is sent until the guard has released bytes, so a response whose start leaks
  // becomes a clean 502 rather than a cut stream; the headers leave with the first released bytes.
  const guard = new LeakGuard(credential.leakPatterns);
  let started = false;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const { safe, leaked } = guard.push(chunk);
    if (leaked) return cutForLeak(ctx, deps, route, body, started);
    if (safe.length === 0) continue;
    if (!started) {
      res.writeHead(upstream.statusCode, headers);
      started = true;
    }
    if (!res.write(safe)) await drained(res);
  }
  const { safe, leaked } = guard.end();
  if (leaked) return cutForLeak(ctx, deps, route, body, started);
  if (!started) res.writeHead(upstream.statusCode, headers);
  res.end(safe.length === 0 ? undefined : safe);
}

/**
 * SPEC §10: an event stream is relayed event by event. Its headers leave at once (an EventSource
 * opens on them, and an idle stream may send no byte for minutes), with the hint that tells
 * nginx-like proxies in front not to buffer it; the guard holds back only a tail that could begin
 * a secret (LeakGuard `prefixesOnly`), so each complete event goes out as soon as it arrives. A leak
 * cuts the stream (it has started, so no 502 is possible). The forwarder applies no body timeout.
 */
async function relayEventStream(ctx: RequestContext, deps: ProxyDeps, route: CompiledRoute, statusCode: number, headers: Record<string, string | string[]>, body: Readable, patterns: readonly Buffer[]): Promise<void> {
  const res = ctx.res;
  headers['x-accel-buffering'] = 'no';
  // WHATWG HTML §9.2 recommends it; an upstream's own Cache-Control is kept as sent.
  headers['cache-control'] ??= 'no-cache';
  res.writeHead(statusCode, headers);
  res.flushHeaders();
  const live = ctx.live;
  const handle = live?.session.handle ?? '';
  let closing = false;
  // Registered on public routes too (no session: handle ''): a stopping gateway ends every stream
  // after draining, and must not wait for one it does not know of (SPEC §10).
  const unregister = deps.openConnections?.add({
    kind: 'stream',
    handle,
    user: live?.user.name ?? '',
    close: () => {
      closing = true;
      discard(body);
      res.end();
    },
  }) ?? null;
  try {
    // Before the first event: a stream that relays is one only a later revocation or expiry ends.
    if (unregister) await deps.openConnections!.watched(handle);
    if (closing) return;
    const guard = new LeakGuard(patterns, { prefixesOnly: true });
    for await (const chunk of body as AsyncIterable<Buffer>) {
      const { safe, leaked } = guard.push(chunk);
      if (leaked) return cutForLeak(ctx, deps, route, body, true);
      if (safe.length > 0 && !res.write(safe)) await drained(res);
    }
    if (closing) return;
    const { safe, leaked } = guard.end();
    if (leaked) return cutForLeak(ctx, deps, route, body, true);
    res.end(safe.length === 0 ? undefined : safe);
  } catch (error) {
    // Closed on purpose (the session ended): the upstream body's abort is the expected outcome.
    if (!closing) throw error;
  } finally {
    unregister?.();
  }
}

/**
 * What one request (or WebSocket handshake, realtime/websocket-relay.ts) to the route's upstream
 * carries: the configured secret, or the session's own token for a `user-token` upstream.
 */
export async function credentialFor(ctx: RequestContext, route: CompiledRoute, deps: Pick<ProxyDeps, 'credentials' | 'logger' | 'exchanger'>): Promise<ReadyCredential> {
  const configured = deps.credentials.get(route.config.upstream);
  if (!configured) {
    deps.logger.error({ requestId: ctx.requestId, upstream: route.config.upstream }, 'the upstream credential secret is not stored');
    throw new GatewayError('upstream_unavailable');
  }
  return configured.userToken ? userCredential(ctx, configured.userToken, route, deps) : configured;
}

/**
 * The credential of one request to a `user-token` upstream: the session's access token from
 * `provider`, and all its tokens watched for by the leak guard. A session that did not log in at
 * that provider (a local login, or another provider's) gets 403 idp_login_required (SPEC §9).
 */
async function userCredential(ctx: RequestContext, userToken: NonNullable<ReadyCredential['userToken']>, route: CompiledRoute, deps: Pick<ProxyDeps, 'logger' | 'exchanger'>): Promise<ReadyCredential> {
  const provider = userToken.provider;
  // Fresh, refreshed if it was due, by the oidc-refresh stage (http/pipeline.ts).
  if (ctx.oidcUnavailable) throw ctx.oidcUnavailable;
  const held = ctx.oidc;
  if (!held || held.record.provider !== provider) throw new GatewayError('idp_login_required');
  if (userToken.exchange) return exchangedCredential(ctx, held, userToken.exchange, route, deps);
  const ready = preparedCredentials.get(held);
  if (ready) return ready;
  const tokens = held.tokens;
  const attached = userTokenCredential(tokens);
  if (!attached) {
    deps.logger.error({ requestId: ctx.requestId, upstream: route.config.upstream, provider }, 'the user\'s access token cannot be sent in a header');
    throw new GatewayError('upstream_unavailable');
  }
  const credential = { ...attached, headerCheck: new HeaderLeakCheck(attached.leakPatterns) };
  preparedCredentials.set(held, credential);
  return credential;
}

/**
 * RFC 8693 (SPEC §9 `exchange`): the upstream gets the token the provider issued for it in exchange
 * for the session's, kept by the exchanger (decision 0013); the leak guard watches for it and for
 * every token of the session. Not prepared once like the session's own credential: the exchanged
 * token changes on its own schedule. Never the user's own token instead: without an exchanger, fail
 * closed.
 */
async function exchangedCredential(ctx: RequestContext, held: OpenedSession, exchange: TokenExchangeConfig, route: CompiledRoute, deps: Pick<ProxyDeps, 'logger' | 'exchanger'>): Promise<ReadyCredential> {
  if (!deps.exchanger || !ctx.live) throw new GatewayError('internal_error');
  const provider = held.record.provider;
  const exchanged = await deps.exchanger.exchanged({ handle: held.record.handle, user: ctx.live.user.name, provider, accessToken: held.tokens.accessToken, exchange });
  const attached = userTokenCredential(held.tokens, exchanged);
  if (!attached) {
    deps.logger.error({ requestId: ctx.requestId, upstream: route.config.upstream, provider }, 'the exchanged token cannot be sent in a header');
    throw new GatewayError('upstream_unavailable');
  }
  return { ...attached, headerCheck: new HeaderLeakCheck(attached.leakPatterns) };
}

/**
 * A session's credential, prepared once for the tokens the session memory holds (decision 0012):
 * keyed by that object, so it goes when the memory drops or replaces them, and tokens read from the
 * store for one request only are prepared for that request only.
 */
const preparedCredentials = new WeakMap<object, ReadyCredential>();

function cutForLeak(ctx: RequestContext, deps: ProxyDeps, route: CompiledRoute, body: Buffer | Readable, started: boolean): void {
  discard(body);
  leakBlocked(ctx, deps, route, 'body');
  if (started) {
    ctx.res.destroy();
    return;
  }
  throw new GatewayError('secret_leak_blocked');
}

function leakBlocked(ctx: RequestContext, deps: ProxyDeps, route: CompiledRoute, where: 'headers' | 'body'): void {
  deps.logger.warn({ requestId: ctx.requestId, upstream: route.config.upstream, where }, 'upstream response contained a secret; withheld');
  deps.audit.recordInBackground('secret_leak_blocked', { user: ctx.live?.user.name ?? null, ip: ctx.ip, requestId: ctx.requestId }, { upstream: route.config.upstream, where });
}

/** Aborts the upstream response; the abort error it then emits is expected, not a failure. */
function discard(body: Buffer | Readable): void {
  if (Buffer.isBuffer(body)) return;
  body.on('error', () => undefined);
  body.destroy();
}

function drained(res: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
