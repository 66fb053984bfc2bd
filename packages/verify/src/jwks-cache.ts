import { createLocalJWKSet, errors, type CryptoKey, type JWSHeaderParameters } from 'jose';

/**
 * The gateway's public keys (`GET /.well-known/jwks.json`), fetched lazily and cached.
 *
 * Not jose's `createRemoteJWKSet`: its cooldown starts only after a SUCCESSFUL fetch, so while the
 * JWKS is unreachable every request would trigger a fetch, and its clock is not injectable. Here:
 * - every fetch attempt, failed or not, starts the cooldown: at most one fetch per `cooldownMs`,
 *   whatever an unauthenticated caller sends (a made-up `kid` cannot make us hammer the gateway);
 * - an unknown `kid` triggers a refetch (key rotation) unless cooling down;
 * - a set older than `maxAgeMs` is refetched before use, and NOT used if that fails: the keys the
 *   gateway stopped publishing must stop verifying (fail closed, `jwks_unavailable`);
 * - fetches time out after `fetchTimeoutMs`, refuse redirects and bodies over `maxBytes`.
 */

export type KeyLookup =
  | { ok: true; key: CryptoKey }
  | { ok: false; reason: 'unknown_key' | 'jwks_unavailable' };

export interface JwksCache {
  /** The public key for a JWS header (its `alg` and `kid`). */
  key(header: JWSHeaderParameters): Promise<KeyLookup>;
  /** How many fetches were attempted: for tests and metrics. */
  readonly fetchCount: number;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface JwksCacheOptions {
  url: URL;
  fetchTimeoutMs: number;
  cooldownMs: number;
  maxAgeMs: number;
  maxBytes: number;
  now: () => number;
  fetch: FetchLike;
}

type KeySet = ReturnType<typeof createLocalJWKSet>;

export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const { url, fetchTimeoutMs, cooldownMs, maxAgeMs, maxBytes, now, fetch } = options;
  let current: { keys: KeySet; fetchedAt: number } | undefined;
  let lastAttemptAt = -Infinity;
  let pending: Promise<void> | undefined;
  let fetchCount = 0;

  const coolingDown = (): boolean => now() - lastAttemptAt < cooldownMs;
  const fresh = (): boolean => current !== undefined && now() - current.fetchedAt < maxAgeMs;

  /** Joins a fetch in flight, or starts one unless cooling down. Resolves either way. */
  function refresh(): Promise<void> {
    if (pending) return pending;
    if (coolingDown()) return Promise.resolve();
    lastAttemptAt = now();
    fetchCount += 1;
    pending = download(url, fetch, fetchTimeoutMs, maxBytes)
      .then((json) => {
        current = { keys: createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]), fetchedAt: now() };
      })
      .catch(() => {
        // The reason is the caller's `jwks_unavailable`; the details (which may echo a URL or a
        // body) stay out of responses.
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  async function find(header: JWSHeaderParameters): Promise<KeyLookup | undefined> {
    if (!current || !fresh()) return undefined;
    try {
      return { ok: true, key: await current.keys(header) };
    } catch (error) {
      // Two published keys under one `kid` is a gateway bug; refuse rather than guess.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return { ok: false, reason: 'unknown_key' };
      throw error;
    }
  }

  return {
    async key(header) {
      if (!fresh()) await refresh();
      if (!fresh()) return { ok: false, reason: 'jwks_unavailable' };
      const first = await find(header);
      if (!first || first.ok) return first ?? { ok: false, reason: 'jwks_unavailable' };
      // An unknown kid may be a key the gateway has just rotated in (SPEC §7): look again.
      const before = current;
      await refresh();
      if (current === before) return first;
      return (await find(header)) ?? { ok: false, reason: 'jwks_unavailable' };
    },
    get fetchCount() {
      return fetchCount;
    },
  };
}

async function download(url: URL, fetch: FetchLike, timeoutMs: number, maxBytes: number): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs);
  const response = await fetch(url.href, {
    method: 'GET',
    headers: { accept: 'application/jwk-set+json, application/json' },
    redirect: 'error',
    signal,
  });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`JWKS answered ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error('JWKS too large');
  }
  return JSON.parse(await readCapped(response, maxBytes)) as unknown;
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error('JWKS too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
