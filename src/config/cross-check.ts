import type { ConfigProblem } from './load.js';
import type { GatewayConfig } from './schema.js';

const safeMethods = new Set(['GET', 'HEAD']);

/** Checks that cannot be expressed per key: references between sections and combinations of options. */
export function crossCheck(config: GatewayConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const upstreamNames = new Set<string>();
  config.upstreams.forEach((upstream, i) => {
    if (upstreamNames.has(upstream.name)) problems.push({ path: `upstreams[${i}].name`, message: `duplicate upstream name "${upstream.name}"` });
    upstreamNames.add(upstream.name);
    if (upstream.tls && upstream.url.startsWith('http:')) {
      problems.push({ path: `upstreams[${i}].tls`, message: 'only applies to an https:// upstream url' });
    }
    if (upstream.tls && (upstream.tls.cert === undefined) !== (upstream.tls.key === undefined)) {
      problems.push({ path: `upstreams[${i}].tls`, message: 'cert and key must be given together' });
    }
  });

  config.routes.forEach((route, i) => {
    if (!upstreamNames.has(route.upstream)) {
      problems.push({ path: `routes[${i}].upstream`, message: `no upstream is named "${route.upstream}"` });
    }
    if (route.path === '/auth' || route.path.startsWith('/auth/') || route.path === '/healthz' || route.path === '/readyz' || route.path.startsWith('/.well-known/')) {
      problems.push({ path: `routes[${i}].path`, message: 'this path is reserved for Gatehouse itself' });
    }
    if (route.stripPrefix !== undefined) {
      const literal = route.path.replace(/\/?\*.*$/, '');
      if (!(literal === route.stripPrefix || literal.startsWith(`${route.stripPrefix.replace(/\/$/, '')}/`))) {
        problems.push({ path: `routes[${i}].stripPrefix`, message: `must be a prefix of the route path "${route.path}"` });
      }
    }
    if (!route.csrf && route.methods.some((m) => !safeMethods.has(m))) {
      problems.push({ path: `routes[${i}].csrf`, message: 'false is only allowed on routes whose methods are GET and HEAD' });
    }
    // SPEC §10: a WebSocket opens with a GET; any other method on the route would be plain HTTP
    // sharing a path whose checks were chosen for a socket.
    if (route.websocket && (route.methods.length !== 1 || route.methods[0] !== 'GET')) {
      problems.push({ path: `routes[${i}].websocket`, message: 'true is only allowed on routes whose methods are [GET]' });
    }
    if (route.maxMessageSize !== undefined && !route.websocket) {
      problems.push({ path: `routes[${i}].maxMessageSize`, message: 'only applies to a route with websocket: true' });
    }
  });

  // SPEC §11: the admin listener is never the public port. Port 0 (a free port, tests) never clashes.
  if (config.admin && config.admin.port !== 0 && config.admin.port === config.server.port) {
    problems.push({ path: 'admin.port', message: `must differ from server.port (${config.server.port}): the admin listener is never the public port` });
  }

  const providerNames = new Set<string>();
  config.oidc.providers.forEach((provider, i) => {
    if (providerNames.has(provider.name)) problems.push({ path: `oidc.providers[${i}].name`, message: `duplicate provider name "${provider.name}"` });
    providerNames.add(provider.name);
  });
  const userTokenUpstreams = new Set<string>();
  config.upstreams.forEach((upstream, i) => {
    if (upstream.credential?.type !== 'user-token') return;
    userTokenUpstreams.add(upstream.name);
    if (!providerNames.has(upstream.credential.provider)) {
      problems.push({ path: `upstreams[${i}].credential.provider`, message: `no oidc provider is named "${upstream.credential.provider}"` });
    }
  });
  config.routes.forEach((route, i) => {
    // A public route has no session, so it could never have a user's token to send.
    if (route.public && userTokenUpstreams.has(route.upstream)) {
      problems.push({ path: `routes[${i}].public`, message: `upstream "${route.upstream}" takes the user's token (user-token), so its routes cannot be public` });
    }
  });

  const limitNames = new Set<string>();
  config.limits.forEach((limit, i) => {
    if (limitNames.has(limit.name)) problems.push({ path: `limits[${i}].name`, message: `duplicate rule name "${limit.name}"` });
    limitNames.add(limit.name);
    if (limit.action === 'revoke' && limit.by === 'ip') {
      problems.push({ path: `limits[${i}].action`, message: 'revoke needs by: session or by: user (an address has no session to revoke)' });
    }
    if (limit.action === 'block' && limit.for === undefined) {
      problems.push({ path: `limits[${i}].for`, message: 'block needs a duration like "15m"' });
    }
    if (limit.action !== 'block' && limit.for !== undefined) {
      problems.push({ path: `limits[${i}].for`, message: 'only allowed with action: block' });
    }
    if (limit.action === 'respond' && limit.respond === undefined) {
      problems.push({ path: `limits[${i}].respond`, message: 'respond needs {status, body, headers}' });
    }
    if (limit.action !== 'respond' && limit.respond !== undefined) {
      problems.push({ path: `limits[${i}].respond`, message: 'only allowed with action: respond' });
    }
  });

  // SPEC §8: nodes sharing PostgreSQL count and talk through Redis. One machine on SQLite counts in
  // its file and has no use for it: a cache there would suggest limits are shared when nothing is.
  if ('postgres' in config.store && config.cache === undefined) {
    problems.push({ path: 'cache', message: 'required with store.postgres: { redis: URL } for the counters and messages the nodes share' });
  }
  if ('sqlite' in config.store && config.cache !== undefined) {
    problems.push({ path: 'cache', message: 'only used with store.postgres (with store.sqlite the counters live in the SQLite file)' });
  }

  if (config.session.idleTimeout > config.session.absoluteTimeout) {
    problems.push({ path: 'session.idleTimeout', message: 'must not be longer than session.absoluteTimeout' });
  }
  if (config.login.backoff > config.login.maxBackoff) {
    problems.push({ path: 'login.backoff', message: 'must not be longer than login.maxBackoff' });
  }
  return problems;
}

/** Names of every secret the configuration refers to, with where it is referred to. */
export function referencedSecrets(config: GatewayConfig): { name: string; path: string }[] {
  const out: { name: string; path: string }[] = [];
  config.upstreams.forEach((upstream, i) => {
    const c = upstream.credential;
    if (!c || c.type === 'user-token') return;
    if (c.type === 'basic') {
      out.push({ name: c.user, path: `upstreams[${i}].credential.user` });
      out.push({ name: c.password, path: `upstreams[${i}].credential.password` });
    } else {
      out.push({ name: c.secret, path: `upstreams[${i}].credential.secret` });
    }
  });
  config.oidc.providers.forEach((provider, i) => out.push({ name: provider.clientSecret, path: `oidc.providers[${i}].clientSecret` }));
  return out;
}
