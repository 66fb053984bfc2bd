/** What the verifier reads from a request, in the shape node:http, Express and Fastify all have. */
export interface AssertedRequest {
  /** The request method as received, e.g. `GET`. */
  method: string;
  /** The request target as received (origin-form: path and optional query), e.g. `/v1/today?x=1`. */
  url: string;
  /** Header names in lower case (as node:http gives them), or a fetch `Headers`. */
  headers: Record<string, string | string[] | undefined> | Headers;
}

export const assertionHeader = 'gatehouse-assertion';

/** The header's single value; `null` if absent, `undefined` if sent more than once. */
export function singleHeader(headers: AssertedRequest['headers'], name: string): string | null | undefined {
  if (isHeaders(headers)) return headers.get(name);
  const value = headers[name];
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

/**
 * The `htu` this request must carry: our own origin (as the gateway calls us) and the path, without
 * query and fragment (RFC 9449 §4.3). Both sides go through the WHATWG URL parser, so they agree on
 * dot segments, default ports and case. `null` for a target that is not origin-form (`*`, an
 * absolute URI): the gateway never sends those.
 */
export function expectedHtu(origin: string, target: string): string | null {
  if (!target.startsWith('/')) return null;
  const path = target.replace(/[?#].*$/s, '');
  // Concatenated, not `new URL(path, origin)`: a target like `//evil.example/x` must stay a path.
  return withoutQuery(`${origin}${path}`);
}

/** A URL without its query and fragment, normalised; `null` if it does not parse. */
export function withoutQuery(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  url.search = '';
  url.hash = '';
  return url.href;
}

function isHeaders(headers: AssertedRequest['headers']): headers is Headers {
  return typeof (headers as Headers).get === 'function';
}
