import { connectionOptions, hopByHopHeaders } from './hop-by-hop.js';

/**
 * Upstream response headers never relayed to the browser (SPEC §4.4), besides hop-by-hop ones
 * (RFC 9110 §7.6.1) and those named in `Connection`:
 * - `set-cookie` (and the obsolete `set-cookie2`), `clear-site-data`: the upstream must not
 *   change state on Gatehouse's origin — it could overwrite or clear the session cookie, or wipe
 *   the site's storage (W3C Clear Site Data §3.1).
 * - every `access-control-*`: Gatehouse grants no CORS (SPEC §4.3).
 * - every `proxy-*` (`proxy-authenticate`, `proxy-authentication-info`): addressed to the
 *   proxy that talked to the upstream, i.e. Gatehouse (RFC 9110 §11.7.1).
 * - `alt-svc`: advertises the upstream's alternative services; relayed, it would tell the
 *   browser to reach Gatehouse's origin somewhere else (RFC 7838 §3).
 * - `x-request-id`: the browser gets Gatehouse's id (SPEC §4); the upstream's would contradict it.
 * `strict-transport-security` is kept: it can only make the browser stricter.
 */
const droppedResponseHeaders: ReadonlySet<string> = new Set([
  ...hopByHopHeaders,
  'set-cookie',
  'set-cookie2',
  'clear-site-data',
  'alt-svc',
  'x-request-id',
]);

/** The upstream response headers to relay to the browser; names in lower case. */
export function clientResponseHeaders(
  upstream: Readonly<Record<string, string | readonly string[] | undefined>>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const named = connectionOptions(upstream['connection']);
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (droppedResponseHeaders.has(lower) || lower.startsWith('access-control-') || lower.startsWith('proxy-')) continue;
    if (named !== null && named.has(lower)) continue;
    out[lower] = typeof value === 'string' ? value : [...value];
  }
  return out;
}
