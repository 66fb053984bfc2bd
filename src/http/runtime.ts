import type { Services } from '../app/open-services.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { UserTokens } from '../oidc/user-tokens.js';
import type { RouteTable } from '../routing/route-table.js';
import type { CidrSet } from '../rules/address.js';
import type { IpRules } from '../rules/ip-rules.js';
import type { CounterStore } from '../rules/counter-store.js';
import type { RateRules } from '../rules/rate-rules.js';
import type { SessionCookiePolicy } from '../security/cookies.js';
import type { HostPolicy } from '../security/host-policy.js';
import type { Endpoint } from './endpoint.js';
import type { InFlight } from './in-flight.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { Responder } from './respond.js';
import type { StaticSite } from './static-site.js';

/** Everything the pipeline stages consult, built once per gateway by the composition root. */
export interface Runtime {
  config: GatewayConfig;
  services: Services;
  logger: Logger;
  /** One line per request (log/logger.ts, accessLogger). */
  accessLog: Logger;
  respond: Responder;
  cookie: SessionCookiePolicy;
  ipRules: IpRules;
  /** The Host values answered: publicOrigin's and server.allowedHosts (SPEC §4.4). */
  hosts: HostPolicy;
  trustedProxies: CidrSet;
  /** Gatehouse's own endpoints by exact path: /auth/*, /healthz, /readyz. */
  ownEndpoints: ReadonlyMap<string, Endpoint>;
  /** Gatehouse's own `{collection}/{id}` endpoints by collection path: /auth/passkeys, /auth/sessions. */
  ownItemEndpoints: ReadonlyMap<string, Endpoint>;
  routes: RouteTable;
  /** One endpoint per configured route, by route index. */
  routeEndpoints: readonly Endpoint[];
  staticSite: StaticSite | null;
  rateRules: RateRules;
  /** Sliding-window counters (process memory on one node, the store with several workers). */
  counters: CounterStore;
  /** Audits refusals a client can repeat at will once per address, reason and minute (SPEC §6). */
  refusals: RefusalAudit;
  /** The sessions' OIDC tokens (SPEC §9); null when no provider is configured. */
  userTokens?: UserTokens | null;
  /** SPEC §11 `/metrics`: kept only when `admin` is configured. */
  metrics?: GatewayMetrics | null;
  /** X-Request-Id values. */
  requestIds: () => string;
  /** This generation's requests in flight (SIGHUP swaps generations, app/reload.ts). */
  inFlight?: InFlight;
}
