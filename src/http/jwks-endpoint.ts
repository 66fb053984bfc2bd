import { createHash } from 'node:crypto';
import type { PublishedKeys } from '../trust/signing-keys.js';
import { unrestricted, type Endpoint } from './endpoint.js';
import type { Responder } from './respond.js';

/** Where verifiers fetch Gatehouse's public keys (SPEC §7). */
export const jwksPath = '/.well-known/jwks.json';

/**
 * Caching: `no-cache` with an ETag, rather than a max-age. A rotation is in use within 5 s, and an
 * upstream that meets the new kid refetches the set (SPEC §7); a shared cache holding the old set
 * for a max-age would make it refuse honest requests for that long. With `no-cache` any cache
 * revalidates each time, and the ETag makes that a 304 until the set changes. (Verifiers keep the
 * set in memory themselves, so this costs the gateway almost nothing.)
 */
const cacheControl = 'no-cache';

/** RFC 7517 §8.5. */
const contentType = 'application/jwk-set+json';

/**
 * `GET /.well-known/jwks.json`: the active signing key and those still in their grace period. Public
 * by nature: no session, no CSRF check (GET and HEAD only), no activity.
 */
export function jwksEndpoint(keys: { readonly published: PublishedKeys }, respond: Responder): [string, Endpoint] {
  let tagged: { body: string; etag: string } | null = null;
  return [jwksPath, {
    id: 'jwks',
    methods: new Set(['GET', 'HEAD']),
    access: 'public',
    allows: unrestricted,
    csrf: false,
    touches: false,
    roles: null,
    mfa: false,
    handle: async (ctx) => {
      const { body } = keys.published;
      if (tagged?.body !== body) tagged = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
      const headers = { ...respond.base, 'cache-control': cacheControl, etag: tagged.etag };
      if (matches(ctx.req.headers['if-none-match'], tagged.etag)) {
        ctx.res.writeHead(304, headers);
        ctx.res.end();
        return;
      }
      ctx.res.writeHead(200, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      ctx.res.end(body);
    },
  }];
}

/** RFC 9110 §13.1.2: If-None-Match uses the weak comparison; `*` matches any current representation. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
