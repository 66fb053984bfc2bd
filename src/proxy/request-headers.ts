import type { IncomingHttpHeaders } from 'node:http';
import { connectionOptions, hopByHopHeaders } from './hop-by-hop.js';

/**
 * Client request headers never forwarded upstream (SPEC §4.4), besides the hop-by-hop ones:
 * - `cookie`, `authorization`, `x-csrf`: the browser's credentials are for Gatehouse alone; the
 *   upstream gets the configured credential instead.
 * - `host`: the upstream's own authority is sent (undici derives it from the upstream URL).
 * - `expect`: Gatehouse answers `100-continue` itself (RFC 9110 §10.1.1); forwarding it would
 *   make the upstream wait for a continue that never comes.
 * - `forwarded`, `x-real-ip` and the other client-address claims (`x-client-ip`,
 *   `true-client-ip`, `cf-connecting-ip`, `fastly-client-ip`, `x-cluster-client-ip`): the
 *   upstream learns the client address from Gatehouse only (SPEC §5).
 * - `x-original-url`, `x-rewrite-url`: IIS/Symfony honour them as the real path, which would
 *   bypass the allowlist decided on the normalised path.
 * - `x-http-method-override`, `x-http-method`, `x-method-override`: many frameworks honour them
 *   as the real method, which would turn an allowed GET into a DELETE behind the method check.
 * - `gatehouse-assertion`: only Gatehouse signs assertions (SPEC §7).
 * - `x-request-id`: replaced by the id the browser gets back.
 * Every `proxy-*` (RFC 9110 §11.7: proxy credentials are for the first proxy) and `x-forwarded-*`
 * field is dropped too, as is the upstream's credential header, whatever its case.
 */
const droppedRequestHeaders: ReadonlySet<string> = new Set([
  ...hopByHopHeaders,
  'cookie',
  'authorization',
  'x-csrf',
  'host',
  'expect',
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'gatehouse-assertion',
  'x-request-id',
]);

export interface UpstreamRequestHeaderOptions {
  /** The client address Gatehouse decided on (SPEC §5: the socket, or the right-most untrusted X-Forwarded-For entry). */
  clientIp: string;
  /**
   * Addresses to keep in front of the client's in `X-Forwarded-For`: give it ONLY when the peer is
   * in `server.trustedProxies`, as the entries of the incoming X-Forwarded-For to the LEFT of the
   * client address. Without it the upstream sees the client address alone, so nothing a client
   * writes into X-Forwarded-For ever reaches it.
   */
  trustedChain?: string;
  /** `server.publicOrigin` as the config schema normalised it (`scheme://host[:port]`). */
  publicOrigin: string;
  requestId: string;
  /** The upstream's header credential (see credential.ts); it replaces any client header of that name. */
  credential?: { readonly headerName?: string; readonly headerValue?: string };
}

/**
 * The headers to send upstream for a client request (SPEC §4.4): the client's headers as a
 * Node `req.headers` object or as `req.rawHeaders`, minus everything listed above, hop-by-hop
 * fields (RFC 9110 §7.6.1) and every field named in `Connection` (except the protected framing
 * fields, see hop-by-hop.ts); plus `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`,
 * `X-Request-Id` and the credential header. Names in the result are lower case; repeated raw
 * headers become arrays.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders | readonly string[],
  options: UpstreamRequestHeaderOptions,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const credentialName = options.credential?.headerName?.toLowerCase();

  if (isRawHeaders(incoming)) {
    let connection: string[] | undefined;
    for (let i = 0; i + 1 < incoming.length; i += 2) {
      if (incoming[i]!.toLowerCase() === 'connection') (connection ??= []).push(incoming[i + 1]!);
    }
    const named = connectionOptions(connection);
    for (let i = 0; i + 1 < incoming.length; i += 2) {
      const name = incoming[i]!.toLowerCase();
      if (isDropped(name, named, credentialName)) continue;
      const value = incoming[i + 1]!;
      const existing = out[name];
      if (existing === undefined) out[name] = value;
      else if (typeof existing === 'string') out[name] = [existing, value];
      else existing.push(value);
    }
  } else {
    const named = connectionOptions(incoming.connection);
    for (const name in incoming) {
      const value = incoming[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (isDropped(lower, named, credentialName)) continue;
      out[lower] = typeof value === 'string' ? value : [...value];
    }
  }

  const client = unmapIpv4(options.clientIp);
  out['x-forwarded-for'] = options.trustedChain ? `${options.trustedChain}, ${client}` : client;
  // A normalised origin is `scheme://host[:port]`: slicing it is exact, and cheaper than a URL parse.
  const origin = options.publicOrigin;
  out['x-forwarded-proto'] = origin.startsWith('https:') ? 'https' : 'http';
  out['x-forwarded-host'] = origin.slice(origin.indexOf('//') + 2);
  out['x-request-id'] = options.requestId;
  if (credentialName !== undefined && options.credential?.headerValue !== undefined) {
    out[credentialName] = options.credential.headerValue;
  }
  return out;
}

function isRawHeaders(headers: IncomingHttpHeaders | readonly string[]): headers is readonly string[] {
  return Array.isArray(headers);
}

function isDropped(name: string, named: ReadonlySet<string> | null, credentialName: string | undefined): boolean {
  return droppedRequestHeaders.has(name)
    || name.startsWith('x-forwarded-')
    || name.startsWith('proxy-')
    || name === credentialName
    || (named !== null && named.has(name));
}

/** `::ffff:192.0.2.1` → `192.0.2.1` (SPEC §5: IPv4-mapped IPv6 addresses are treated as IPv4). */
function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
