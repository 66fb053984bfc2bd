import { isIP } from 'node:net';

/**
 * Which `Host` values Gatehouse answers (SPEC §3 `server.allowedHosts`, §4.4: others get 421).
 *
 * Why: DNS rebinding. A page on attacker.example re-points its own name at the gateway's address;
 * the browser then treats the gateway's answers as same-origin to attacker.example and lets the
 * page read them. The one thing the attacker cannot change is the name the browser sends in
 * `Host`, so refusing names Gatehouse was not configured for ends the attack (RFC 9110 §7.4, 421
 * Misdirected Request; OWASP "DNS rebinding" / Host header validation).
 */
export interface HostPolicy {
  /** Whether a request with this `Host` header (undefined: none was sent) is answered. */
  admits(host: string | undefined): boolean;
}

/** A `Host` value taken apart: the name in canonical form, and the port when one was written. */
export interface HostParts {
  /** Lower case; an IPv6 literal keeps its brackets and is in its compressed form (`[::1]`). */
  name: string;
  port: number | null;
}

/**
 * Parses `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2). Names compare case-insensitively
 * (RFC 3986 §3.2.2), so the name is lower-cased; an IPv6 literal is put in the compressed form the
 * WHATWG URL parser (and so every browser) writes. An empty port, a port above 65535, a zone id or
 * more than one ":" outside brackets is not a host: null.
 */
export function parseHost(text: string): HostParts | null {
  let name: string;
  let rest: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return null;
    const literal = text.slice(1, close);
    // A zone id (`fe80::1%eth0`) is local to the client's machine, never a name for a server.
    if (isIP(literal) !== 6 || literal.includes('%')) return null;
    name = new URL(`http://[${literal}]/`).hostname;
    rest = text.slice(close + 1);
  } else {
    const colon = text.indexOf(':');
    name = (colon === -1 ? text : text.slice(0, colon)).toLowerCase();
    rest = colon === -1 ? '' : text.slice(colon);
    if (name === '') return null;
  }
  if (rest === '') return { name, port: null };
  if (!/^:\d{1,5}$/.test(rest)) return null;
  const port = Number(rest.slice(1));
  return port <= 65535 ? { name, port } : null;
}

/**
 * What `server.allowedHosts` accepts: a DNS name (letters, digits, "-", "_" between dots; browsers
 * send IDNs as punycode), an IPv4 address or a bracketed IPv6 address, with an optional port 1-65535.
 * No scheme, path or wildcard: a wildcard would admit exactly the names a rebinding attacker picks.
 */
export function isAllowedHostEntry(text: string): boolean {
  const parts = parseHost(text);
  if (!parts || parts.port === 0) return false;
  if (parts.name.startsWith('[')) return true;
  // Digits and dots are an IPv4 address or nothing: browsers turn `127.1` into `127.0.0.1` before sending it.
  if (/^[0-9.]+$/.test(parts.name)) return isIP(parts.name) === 4;
  return parts.name.length <= 253 && /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/.test(parts.name);
}

/** An allowedHosts entry in canonical form (`App.Example.com:443` → `app.example.com:443`). */
export function canonicalHostEntry(text: string): string {
  const parts = parseHost(text);
  if (!parts) throw new Error('not a host entry');
  return parts.port === null ? parts.name : `${parts.name}:${parts.port}`;
}

/**
 * Compiles the policy once: publicOrigin's host on its port (a `Host` without a port means the
 * default port of publicOrigin's scheme, as browsers leave the default out), plus each
 * allowedHosts entry: a bare name on any port, `name:port` on that port only. A request without
 * `Host` (only HTTP/1.0 may omit it; Node answers 400 to an HTTP/1.1 one) names no host of ours,
 * so it is not admitted either.
 */
export function hostPolicy(publicOrigin: string, allowedHosts: readonly string[]): HostPolicy {
  const origin = new URL(publicOrigin);
  const defaultPort = origin.protocol === 'https:' ? 443 : 80;
  const originPort = origin.port === '' ? defaultPort : Number(origin.port);
  const exact = new Set<string>([`${origin.hostname}:${originPort}`]);
  const anyPort = new Set<string>();
  for (const entry of allowedHosts) {
    const parts = parseHost(entry);
    if (!parts) throw new Error('server.allowedHosts holds an entry the configuration schema should have refused');
    if (parts.port === null) anyPort.add(parts.name);
    else exact.add(`${parts.name}:${parts.port}`);
  }
  // The Host values browsers actually send, for a lookup without parsing on the common path.
  const verbatim = new Set<string>([...exact, ...anyPort]);
  for (const key of exact) if (key.endsWith(`:${defaultPort}`)) verbatim.add(key.slice(0, -`:${defaultPort}`.length));

  return {
    admits(host) {
      if (host === undefined) return false;
      if (verbatim.has(host)) return true;
      const parts = parseHost(host);
      if (!parts) return false;
      return anyPort.has(parts.name) || exact.has(`${parts.name}:${parts.port ?? defaultPort}`);
    },
  };
}
