/**
 * Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection, so an intermediary
 * never forwards them. `proxy-connection` is the non-standard predecessor of `connection` that
 * some clients still send (RFC 9112 §9.6 / RFC 7230 Appendix A.1.2); `http2-settings` belongs to
 * an h2c upgrade of this connection (RFC 7540 §3.2.1).
 */
export const hopByHopHeaders: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * End-to-end fields a `Connection` header may NOT remove. RFC 9110 §7.6.1 forbids a sender to
 * list a field "intended for all recipients of the content" as a connection option; honouring such
 * a listing would let the peer strip the framing and representation metadata of the message we
 * forward (`Connection: Content-Length` turning a sized body into a chunked one, or dropping its
 * type). So these names are ignored when they appear in `Connection`. Every header Gatehouse adds
 * itself (credential, X-Forwarded-*, X-Request-Id) is added after filtering, so `Connection`
 * cannot remove those either.
 */
const notConnectionOptions: ReadonlySet<string> = new Set([
  'content-length',
  'content-type',
  'content-encoding',
  'content-range',
]);

/**
 * The lower-case field names listed in `Connection` header values (RFC 9110 §7.6.1:
 * `Connection = #connection-option`), minus the protected end-to-end fields above.
 */
export function connectionOptions(values: string | readonly string[] | undefined): Set<string> | null {
  // The overwhelmingly common values name nothing but hop-by-hop fields already dropped.
  if (values === undefined || values === 'keep-alive' || values === 'close' || values === 'Keep-Alive') return null;
  let options: Set<string> | null = null;
  for (const value of typeof values === 'string' ? [values] : values) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name === '' || notConnectionOptions.has(name)) continue;
      (options ??= new Set()).add(name);
    }
  }
  return options;
}
