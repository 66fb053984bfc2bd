import { readFileSync } from 'node:fs';
import type { GatewayConfig, UpstreamConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { LoginThrottle } from '../accounts/login-throttle.js';
import { RefusalAudit } from '../audit/refusal-audit.js';
import { referencedSecrets } from '../config/cross-check.js';
import { authEndpoints } from '../http/auth-endpoints.js';
import type { AuthDeps } from '../http/auth-support.js';
import { mfaEndpoints } from '../http/mfa-endpoints.js';
import { passkeyEndpoints } from '../http/passkey-endpoints.js';
import { sessionEndpoints } from '../http/session-endpoints.js';
import type { Endpoint } from '../http/endpoint.js';
import { healthEndpoints } from '../http/health-endpoints.js';
import { jwksEndpoint } from '../http/jwks-endpoint.js';
import { createResponder } from '../http/respond.js';
import { InFlight } from '../http/in-flight.js';
import type { Runtime } from '../http/runtime.js';
import { listen, type ListeningServer } from '../http/server.js';
import { StaticSite } from '../http/static-site.js';
import { accessLogger } from '../log/logger.js';
import { Forwarder } from '../proxy/forwarder.js';
import { proxyEndpoint } from '../proxy/proxy-endpoint.js';
import { OpenConnections } from '../realtime/open-connections.js';
import { SessionConnectionsWatch } from '../realtime/session-connections-watch.js';
import { UpstreamCredentials } from '../proxy/upstream-credentials.js';
import { RouteTable } from '../routing/route-table.js';
import { CidrSet } from '../rules/address.js';
import type { CounterStore } from '../rules/counter-store.js';
import { IpRules } from '../rules/ip-rules.js';
import { MemoryCounterStore } from '../rules/memory-counter-store.js';
import { RateRules } from '../rules/rate-rules.js';
import type { Store } from '../storage/store.js';
import { revocationRetentionMs } from '../cluster/revocation-log.js';
import { sessionCookiePolicy } from '../security/cookies.js';
import { hostPolicy } from '../security/host-policy.js';
import { requestIdSource } from '../security/random.js';
import { upstreamAssertion, type UpstreamAssertion } from '../trust/assertion.js';
import { openServices, type ServiceOptions, type Services } from './open-services.js';
import { NodeListener } from '../cluster/node-listener.js';
import { announcer } from '../cluster/announcer.js';
import { BlockMemory } from '../rules/block-memory.js';
import { ChannelProbe } from '../cluster/channel-probe.js';
import { followIntervalMs, RevocationFollower } from '../cluster/revocation-follower.js';
import { servesAlone } from './worker-count.js';
import { errorFields } from '../log/error-fields.js';
import { oidcEndpoints } from '../http/oidc-endpoints.js';
import { OidcLogin } from '../oidc/oidc-login.js';
import { ProviderClients } from '../oidc/provider-clients.js';
import { UserTokens } from '../oidc/user-tokens.js';
import { refreshFailures, TokenRefresher } from '../oidc/token-refresher.js';
import { SingleFlight } from '../cluster/single-flight.js';
import { BackchannelLogout } from '../oidc/backchannel-logout.js';
import { ProviderLogout } from '../oidc/provider-logout.js';
import { TokenExchanger } from '../oidc/token-exchanger.js';
import { webSocketRelay } from '../realtime/websocket-relay.js';
import { SessionSocketSlots } from '../realtime/session-socket-slots.js';
import type { FlowLimits } from '../realtime/relay-flow.js';
import cluster from 'node:cluster';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { metricsHandler } from '../admin/metrics-handler.js';
import { createAdminConsole } from '../admin/console/create-admin-console.js';
import { auditedAllowRefusals } from '../admin/audited-allow-refusals.js';
import { MetricsSampler, registryReader } from '../admin/console/metrics-sampler.js';
import { shareWithPrimary } from '../admin/cluster-metrics.js';
import { timedStore, type StorePart } from '../metrics/timed-store.js';

export interface GatewayOptions extends ServiceOptions {
  config: GatewayConfig;
  /** How often open WebSockets' browsers are pinged (default 30 s, realtime/websocket-relay.ts); tests shorten it. */
  webSocketPingIntervalMs?: number;
  /** Backpressure of relayed WebSocket messages (defaults in realtime/relay-flow.ts); tests shorten the stall bound. */
  webSocketFlow?: Partial<FlowLimits>;
}

export interface Gateway {
  readonly services: Services;
  readonly runtime: Runtime;
  /** e.g. http://127.0.0.1:41234 — set once started. */
  readonly url: string;
  readonly port: number;
  /** What this gateway hears from the other processes on its store (SPEC §8). */
  readonly nodes: NodeListener;
  /** Keeps this process's session memory in step with every revocation (SPEC §8). */
  readonly follower: RevocationFollower;
  /** This process's exchanged tokens for `user-token` upstreams with `exchange` (RFC 8693, SPEC §9). */
  readonly exchanger: TokenExchanger;
  /** This process's open WebSockets and event streams, by session and user (SPEC §10). */
  readonly openConnections: OpenConnections;
  /** SPEC §11 `/metrics`: this process's series; null unless `admin` is configured. */
  readonly metrics: GatewayMetrics | null;
  /**
   * The admin listener (SPEC §11) once started; null unless `admin` is configured, and in a
   * cluster worker, where the primary serves it (decision 0017).
   */
  readonly admin: AdminServer | null;
  /** Closes the open connections of ended sessions (SPEC §10); tests await its `checked()`. */
  readonly connectionsWatch: Pick<SessionConnectionsWatch, 'checked'>;
  start(): Promise<void>;
  /**
   * One round of the housekeeping a started gateway runs every minute: expired sessions, counter
   * hits that left every window, expired WebAuthn challenges, ended rate-rule blocks, revocation
   * log entries older than an hour. Tests move the clock and call it.
   */
  housekeep(): Promise<void>;
  /**
   * Swaps the routes, upstreams, rate rules, IP lists and static site for those of `next` (SIGHUP,
   * SPEC §11; app/reload.ts checked everything else). Requests in flight end with what they began
   * with. Throws ConfigError, and changes nothing, when a secret `next` names is not stored.
   */
  reload(next: GatewayConfig): Promise<void>;
  /** Drains in-flight requests, then closes WebSockets (1001) and event streams, the listener, upstream pools and (if it opened it) the store. */
  stop(): Promise<void>;
}

/**
 * The composition root: config + dependencies → stores → services → pipeline → server. Nothing is
 * created at import time, so two gateways in one process never see each other.
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const metrics = config.admin ? new GatewayMetrics(config) : null;
  const services = await openServices(config, { ...options, sessionMemory: true, ...(metrics ? { wrapStore: (store: Store) => timedStore(store, storeTimer(config, metrics)) } : {}) });
  if (metrics) services.audit.observe((type, detail) => metrics.audited(type, detail));
  const logger = services.logger;
  const https = config.server.publicOrigin.startsWith('https:');
  const respond = createResponder(https);

  const credentials = new UpstreamCredentials(config, services.secrets, logger);
  const missing = await credentials.load();
  if (missing.length > 0) {
    await services.close();
    throw missingSecrets(config, missing);
  }
  // (An OIDC provider's clientSecret is among the referenced secrets: a missing one is reported above.)
  for (const provider of config.oidc.providers.filter((p) => p.allowInsecureHttp && p.issuer.startsWith('http:'))) {
    logger.warn({ provider: provider.name, issuer: provider.issuer }, 'OIDC provider over plain HTTP (allowInsecureHttp): codes and tokens cross the network in clear; for local testing only');
  }
  // SPEC §7: the signing key exists (created on the first start) and is in memory before the first
  // request, so signing never waits for the store.
  try {
    await services.signingKeys.init();
  } catch (error) {
    await services.close();
    throw error;
  }

  const providerClients = new ProviderClients({ providers: config.oidc.providers, secret: (name) => services.secrets.reveal(name), logger, clock: services.clock });
  const refresher = new TokenRefresher({
    store: services.store.oidc,
    users: services.store.users,
    keyring: services.keyring,
    random: services.random,
    clock: services.clock,
    clients: providerClients,
    flight: new SingleFlight({ leases: services.store.leases, clock: services.clock, random: services.random, ...refreshFailures }),
    logger,
    userChanged: (userName) => services.sessions.userChanged(userName),
  });
  const userTokens = new UserTokens({ store: services.store.oidc, refresher, memory: services.sessionMemory?.memory ?? null });
  const exchanger = new TokenExchanger({ clients: providerClients, clock: services.clock, logger });
  // A session's exchanged tokens end with it: every revocation this process makes or hears of
  // passes through the session memory's forget (decision 0008).
  services.sessionMemory!.memory.onForget((scope, subject) => exchanger.forget(scope, subject));
  const openConnections = new OpenConnections();
  // SPEC §10: a revoked or expired session's WebSockets and event streams close within 1 s (decision 0014).
  const connectionsWatch = new SessionConnectionsWatch({ connections: openConnections, sessions: services.sessions, memory: services.sessionMemory!.memory, clock: services.clock, logger });
  // SPEC §10: at most 20 open WebSockets per session across workers and nodes, counted in the store (decision 0015).
  const socketSlots = new SessionSocketSlots({ slots: services.store.connectionSlots, nodeId: services.sessionMemory!.nodeId, logger });
  const cookie = sessionCookiePolicy(config.server.publicOrigin, config.session.sameSite);
  // The throttle's failures and holds are durable on both engines (SPEC §8, "Where state lives": a
  // Redis restart loses no login throttle, and a restart of this node none either). A login costs
  // an argon2 hash, so the store's round trips are nothing beside it.
  const throttleCounters = services.store.throttle;
  const throttle = new LoginThrottle({ counters: throttleCounters, clock: services.clock, settings: config.login });
  const counters = countersFor(config, services.store);
  const authDeps: AuthDeps = {
    accounts: services.accounts,
    throttle,
    sessions: services.sessions,
    totp: services.totp,
    passkeys: services.passkeys,
    counters,
    clock: services.clock,
    audit: services.audit,
    cookie,
    respond,
    maxBodySize: config.server.maxBodySize,
    mfaRequired: config.mfa.required,
    providerLogout: new ProviderLogout({ clients: providerClients, store: services.store.oidc, refresher, logger }),
  };
  const passkeys = passkeyEndpoints(authDeps);
  const refusals = new RefusalAudit({ audit: services.audit, counters, clock: services.clock });
  const oidc = oidcEndpoints({
    auth: authDeps,
    login: new OidcLogin({
      clients: providerClients,
      store: services.store.oidc,
      users: services.store.users,
      keyring: services.keyring,
      random: services.random,
      clock: services.clock,
      logger,
      publicOrigin: config.server.publicOrigin,
      userChanged: (userName) => services.sessions.userChanged(userName),
    }),
    clients: providerClients,
    store: services.store.oidc,
    backchannel: new BackchannelLogout({ clients: providerClients, store: services.store.oidc, sessions: services.sessions, clock: services.clock }),
    refusals,
    random: services.random,
    secure: https,
  });
  const ownSessions = sessionEndpoints(authDeps);
  const ownEndpoints = new Map<string, Endpoint>([
    ...healthEndpoints(services.store, respond),
    jwksEndpoint(services.signingKeys, respond),
    ...authEndpoints(authDeps),
    ...mfaEndpoints(authDeps),
    ...passkeys.exact,
    ...ownSessions.exact,
    ...oidc.exact,
  ]);
  const ownItemEndpoints = new Map<string, Endpoint>([['/auth/passkeys', passkeys.byId], ['/auth/sessions', ownSessions.byId], oidc.callback, oidc.backchannel]);
  if (!services.passkeys.enabled) logger.warn({ publicOrigin: config.server.publicOrigin }, 'passkeys are off: server.publicOrigin names an IP address, and WebAuthn needs a host name');
  // Beside PostgreSQL, the channel (Redis) can vouch for the memories while the store cannot
  // (SPEC §8 "Failures": PostgreSQL down, known sessions keep working). On SQLite it reaches no
  // other process, so only the log read does.
  const probe = 'postgres' in config.store
    ? new ChannelProbe({ channel: services.store.channel, nodeId: services.sessionMemory!.nodeId, logger })
    : null;
  const blockMemory = blockMemoryFor(config, services, probe);
  // SPEC §11: what SIGHUP swaps is built here, from the routes, upstreams, rules, IP lists and static site.
  // An upstream whose settings did not change keeps its pool (and its warm connections).
  const traffic = (next: GatewayConfig, credentials: UpstreamCredentials, previous: Traffic | null): Traffic => {
    const assertions = new Map<string, UpstreamAssertion>(next.upstreams.filter((u) => u.assertion).map((u) => [u.name, upstreamAssertion({
      keys: services.signingKeys,
      issuer: config.server.publicOrigin,
      upstreamUrl: u.url,
      clock: services.clock,
      random: services.random,
    })]));

    const forwarders = new Map(next.upstreams.map((u) => [u.name, previous?.reusable(u) ?? new Forwarder(u, { tls: upstreamTls(u) })]));
    for (const upstream of next.upstreams.filter((u) => u.tls?.dangerouslyDisableCertificateVerification && !previous?.reusable(u))) {
      logger.warn({ upstream: upstream.name }, 'upstream certificate verification is OFF (tls.dangerouslyDisableCertificateVerification): anyone on the network path can pose as this upstream and receive its secret');
    }
    const routes = new RouteTable(next.routes);
    const routeEndpoints = routes.routes.map((route, index): Endpoint => {
      const upstream = next.upstreams.find((u) => u.name === route.config.upstream)!;
      const endpoint = proxyEndpoint(index, route, {
        forwarder: forwarders.get(route.config.upstream)!,
        credentials,
        audit: services.audit,
        logger,
        maxBodySize: config.server.maxBodySize,
        publicOrigin: config.server.publicOrigin,
        assertion: assertions.get(route.config.upstream) ?? null,
        exchanger,
        openConnections,
        upstreamAnswered: metrics ? (seconds) => metrics.upstreamAnswered(route.config.upstream, seconds) : null,
      });
      if (!route.config.websocket) return endpoint;
      return {
        ...endpoint,
        websocket: webSocketRelay(route, {
          upstream,
          credentials,
          exchanger,
          connections: openConnections,
          slots: socketSlots,
          audit: services.audit,
          logger,
          publicOrigin: config.server.publicOrigin,
          assertion: assertions.get(route.config.upstream) ?? null,
          tls: upstreamTls(upstream),
          touch: (session) => services.sessions.touch(session),
          ...(options.webSocketPingIntervalMs !== undefined ? { pingIntervalMs: options.webSocketPingIntervalMs } : {}),
          ...(options.webSocketFlow !== undefined ? { flow: options.webSocketFlow } : {}),
        }),
      };
    });
    const rateRules = new RateRules(next.limits, {
      counters,
      blocks: blockMemory ?? services.store.blocks,
      clock: services.clock,
      audit: services.audit,
      revoke: async (live, reason, at) => {
        await services.sessions.revoke(live.session, { user: 'gatehouse', ip: at.ip, requestId: at.requestId }, reason);
      },
    });
    const settings = new Map(next.upstreams.map((u) => [u.name, JSON.stringify(u)]));
    return {
      config: next,
      credentials,
      forwarders,
      routes,
      routeEndpoints,
      rateRules,
      ipRules: new IpRules(next.ipRules),
      staticSite: next.static ? new StaticSite(next.static, respond) : null,
      inFlight: new InFlight(),
      reusable: (u) => (settings.get(u.name) === JSON.stringify(u) ? forwarders.get(u.name) ?? null : null),
    };
  };
  let parts = traffic(config, credentials, null);

  let runtime: Runtime = {
    config,
    services,
    logger,
    accessLog: accessLogger(logger),
    respond,
    cookie,
    ipRules: parts.ipRules,
    hosts: hostPolicy(config.server.publicOrigin, config.server.allowedHosts),
    trustedProxies: new CidrSet(config.server.trustedProxies),
    ownEndpoints,
    ownItemEndpoints,
    routes: parts.routes,
    routeEndpoints: parts.routeEndpoints,
    staticSite: parts.staticSite,
    rateRules: parts.rateRules,
    counters,
    refusals,
    userTokens: config.oidc.providers.length > 0 ? userTokens : null,
    requestIds: requestIdSource(services.random),
    inFlight: parts.inFlight,
    metrics,
  };
  metrics?.readFrom({
    activeSessions: () => services.sessions.countActive(),
    openConnections: () => openConnections.counts(),
  });

  // Each distinct counter store once (the throttle's is the rules' with several SQLite workers).
  const counterStores = new Set([throttleCounters, counters]);

  const nodes = new NodeListener({
    channel: services.store.channel,
    refresh: { secrets: () => parts.credentials.load(), keys: () => services.signingKeys.refresh(), blocks: async () => blockMemory?.changed() },
    logger,
  });

  const follower = new RevocationFollower({
    probe,
    nodeId: services.sessionMemory!.nodeId,
    memory: services.sessionMemory!.memory,
    log: services.store.revocations,
    registry: services.store.nodes,
    channel: services.store.channel,
    logger,
    // On SQLite no message crosses processes: the log read is how workers and `serve` beside the
    // CLI hear, and it is a local file read.
    intervalMs: 'sqlite' in config.store ? followIntervalMs.local : followIntervalMs.channel,
  });

  let listening: ListeningServer | null = null;
  let admin: AdminServer | null = null;
  let sampler: MetricsSampler | null = null;
  let purge: NodeJS.Timeout | null = null;
  let stopHearingStatus: (() => void) | null = null;
  let retiring: Promise<unknown> = Promise.resolve();
  const gateway: Gateway = {
    services,
    get runtime() {
      return runtime;
    },
    nodes,
    follower,
    exchanger,
    openConnections,
    connectionsWatch,
    metrics,
    get admin() {
      return admin;
    },
    get url() {
      const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
      return `${config.server.tls ? 'https' : 'http'}://${host}:${gateway.port}`;
    },
    get port() {
      return listening?.port ?? config.server.port;
    },
    async start() {
      if (blockMemory) {
        // Back on the channel: announcements made meanwhile were lost, so re-read before trusting memory.
        stopHearingStatus = services.store.channel.onStatus((connected) => {
          if (connected) void blockMemory.changed();
        });
        await blockMemory.start();
      }
      // Following (and in the registry) before the first request: a revoker waits for this process from now on.
      await follower.start();
      connectionsWatch.start();
      probe?.start();
      if (metrics && config.admin) {
        // Decision 0017: a worker's series are summed by the primary, which serves the listener.
        // Before the public port: an admin port in use stops the start before anything is served.
        if (cluster.isWorker) shareWithPrimary(metrics.registry);
        else {
          // SPEC §11: the overview's requests and upstream latency, sampled from this registry.
          sampler = new MetricsSampler({ reader: registryReader(metrics.registry), clock: services.clock });
          await sampler.start();
          admin = await startAdminServer(config.admin, [metricsHandler(metrics.registry), createAdminConsole({ services, admin: config.admin, sampler })], logger, auditedAllowRefusals(refusals));
        }
      }
      try {
        listening = await listen(runtime, () => runtime);
      } catch (error) {
        // The public port could not be had: an admin listener left open would keep the process alive.
        await admin?.close();
        admin = null;
        sampler?.stop();
        throw error;
      }
      parts.credentials.startRefreshing();
      nodes.start();
      services.signingKeys.start();
      purge = setInterval(() => {
        gateway.housekeep().catch((error: unknown) => logger.error({ err: errorFields(error) }, 'housekeeping failed'));
      }, 60_000);
      purge.unref();
      logger.info({ url: gateway.url, publicOrigin: config.server.publicOrigin, routes: config.routes.length }, 'gatehouse listening');
    },
    async reload(next) {
      const fresh = new UpstreamCredentials(next, services.secrets, logger);
      // SPEC §11: a secret a new upstream names must be stored, as at start.
      const absent = await fresh.load();
      if (absent.length > 0) throw missingSecrets(next, absent);
      const old = parts;
      parts = traffic(next, fresh, old);
      // One assignment: a request takes the runtime once, at its start (http/server.ts), so it ends
      // with the parts it began with, and every later one sees only the new ones.
      runtime = {
        ...runtime,
        config: { ...runtime.config, upstreams: next.upstreams, routes: next.routes, limits: next.limits, ipRules: next.ipRules, static: next.static },
        routes: parts.routes,
        routeEndpoints: parts.routeEndpoints,
        ipRules: parts.ipRules,
        staticSite: parts.staticSite,
        rateRules: parts.rateRules,
        inFlight: parts.inFlight,
      };
      if (listening) fresh.startRefreshing();
      old.credentials.stop();
      // Pools of upstreams that changed or left close once the requests begun with them have ended;
      // open WebSockets hold their own upstream socket and event streams their own request.
      const dropped = [...old.forwarders.values()].filter((f) => ![...parts.forwarders.values()].includes(f));
      retiring = Promise.all([retiring, old.inFlight.idle().then(() => Promise.all(dropped.map((f) => f.close())))]);
    },
    async housekeep() {
      const now = services.clock.now();
      await Promise.all([
        services.sessions.purgeExpired(),
        // Login options are public: each request stores a challenge, so an anonymous client can fill
        // the table at will. Purged here, a challenge lives at most its 5 minutes plus one round.
        services.passkeys.purgeExpiredChallenges(),
        // Logins begun and never finished; the records of sessions that ended.
        services.store.oidc.purgeLoginStates(now),
        services.store.oidc.purgeSessions(),
        // Ids of logout tokens past the age at which any token is refused anyway.
        services.store.oidc.purgeLogoutJtis(now),
        services.store.blocks.purge(now),
        services.store.revocations.purge(now - revocationRetentionMs),
        // Processes that died without leaving; a minute is far past any revoker's 1 s.
        services.store.nodes.purge(60_000),
        // Leases of holders that died, and recorded failures past their hold (cluster/single-flight.ts).
        services.store.leases.purge(now),
        // WebSocket slots of processes that left or were purged above (a crash; decision 0015).
        services.store.connectionSlots.purge(),
        ...[...counterStores].map((store) => store.purge(now)),
      ]);
    },
    async stop() {
      if (purge) clearInterval(purge);
      parts.credentials.stop();
      nodes.stop();
      stopHearingStatus?.();
      blockMemory?.stop();
      services.signingKeys.stop();
      // SPEC §10: no new connection or upgrade, in-flight requests finish, and only then are sockets
      // closed (1001, going away, RFC 6455 §7.4.1) and event streams ended; a peer that does not
      // answer the close frame is dropped after closeHandshakeBoundMs (websocket-relay.ts).
      if (listening) await listening.drain(() => openConnections.streams());
      openConnections.closeAll(1001, 'gateway stopping');
      if (listening) await listening.close();
      // After the public listener: an operator watches the drain on /metrics until it is over.
      await admin?.close();
      sampler?.stop();
      probe?.stop();
      await connectionsWatch.stop();
      await follower.stop();
      await Promise.all([...parts.forwarders.values()].map((f) => f.close()));
      await retiring;
      await services.close();
    },
  };
  return gateway;
}

/** The parts of a gateway built from the configuration that SIGHUP swaps (SPEC §11). */
interface Traffic {
  config: GatewayConfig;
  credentials: UpstreamCredentials;
  forwarders: Map<string, Forwarder>;
  routes: RouteTable;
  routeEndpoints: Endpoint[];
  rateRules: RateRules;
  ipRules: IpRules;
  staticSite: StaticSite | null;
  /** The requests begun with these parts. */
  inFlight: InFlight;
  /** This generation's pool for `upstream` if its settings are unchanged, else null. */
  reusable(upstream: UpstreamConfig): Forwarder | null;
}

function missingSecrets(config: GatewayConfig, missing: string[]): ConfigError {
  const paths = referencedSecrets(config).filter((r) => missing.includes(r.name));
  return new ConfigError(paths.map((r) => ({ path: r.path, message: `no secret named "${r.name}" is stored (use gatehouse secret set ${r.name})` })));
}

/**
 * Store calls go to the store's histogram, except what is Redis: the rate-rule counters beside
 * PostgreSQL (SPEC §8) and the cache ping.
 */
function storeTimer(config: GatewayConfig, metrics: GatewayMetrics): (part: StorePart | 'cache', seconds: number) => void {
  const countersInRedis = 'postgres' in config.store;
  return (part, seconds) => {
    if (part === 'cache') metrics.redisCall('ping', seconds);
    else if (part === 'counters' && countersInRedis) metrics.redisCall('counters', seconds);
    else metrics.storeCall(part, seconds);
  };
}

/** The upstream's CA and client certificate files, read once at start (SPEC §7: verify it, mTLS). */
function upstreamTls(upstream: UpstreamConfig): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean } | undefined {
  const tls = upstream.tls;
  if (!tls) return undefined;
  return {
    ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
    ...(tls.key ? { key: readFileSync(tls.key) } : {}),
    ...(tls.dangerouslyDisableCertificateVerification ? { rejectUnauthorized: false } : {}),
  };
}

/**
 * Rate-rule counters live in process memory on a single SQLite node (no store round trip on the hot
 * path); with several workers they must be shared, so they live in the SQLite store, whose `take` is
 * atomic across processes. With PostgreSQL, nodes count together in Redis (SPEC §8: a rule's `max`
 * holds across nodes), whatever the number of workers. The login throttle is not here: Store.throttle.
 */
function countersFor(config: GatewayConfig, store: Store): CounterStore {
  return servesAlone(config) ? new MemoryCounterStore() : store.counters;
}

/**
 * The active blocks are held in memory (no store round trip per request, SPEC §8 "Speed") on
 * PostgreSQL, kept right by the node channel, which every node and the CLI share through Redis;
 * and by a single SQLite process (`servesAlone`), where every block is set by this process and
 * re-read at once, and `block remove` from the CLI waits until the re-reads every 250 ms must have
 * seen it (BlockService's `settle`). With several SQLite workers they are read from the file on each
 * request: the in-process channel does not reach the other workers, and a block one worker sets
 * would otherwise hold the request that set it for a second (BlockMemory's `settleMs`).
 */
function blockMemoryFor(config: GatewayConfig, services: Services, probe: ChannelProbe | null): BlockMemory | null {
  const alone = servesAlone(config);
  if (!('postgres' in config.store) && !alone) return null;
  const channel = services.store.channel;
  return new BlockMemory({
    store: services.store.blocks,
    hearing: () => channel.connected,
    vouched: () => probe?.proven ?? false,
    announce: announcer(channel, services.logger),
    clock: services.clock,
    logger: services.logger,
    // No other process answers from a block memory of this file: the next request here already
    // waits for the re-read that `add` starts.
    ...(alone ? { settleMs: 0 } : {}),
  });
}
