import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { createJwksCache, type FetchLike, type JwksCache } from './jwks-cache.js';
import type { RefusalReason } from './reasons.js';
import { createReplayCache } from './replay-cache.js';
import { assertionHeader, expectedHtu, singleHeader, withoutQuery, type AssertedRequest } from './request.js';

/** The claims of a verified assertion (SPEC §7). */
export interface AssertionClaims {
  /** The gateway's public origin. */
  iss: string;
  /** This upstream's origin. */
  aud: string;
  /** The user name; absent for public routes. */
  sub?: string;
  /** A non-secret handle of the user's session. */
  sid?: string;
  jti: string;
  htm: string;
  htu: string;
  iat: number;
  exp: number;
}

export type VerifyResult = { ok: true; claims: AssertionClaims } | { ok: false; reason: RefusalReason };

export interface Verifier {
  verify(request: AssertedRequest): Promise<VerifyResult>;
}

export interface VerifierOptions {
  /** The gateway's `…/.well-known/jwks.json`. https, or http on a loopback address. */
  jwksUrl: string | URL;
  /** The gateway's `server.publicOrigin`, compared exactly with `iss`. */
  issuer: string;
  /** This upstream's origin as the gateway calls it (its `url` in the gateway's config), e.g. `http://127.0.0.1:9000`: the expected `aud` and the origin of the expected `htu`. */
  audience: string;
  /** Seconds of clock skew accepted on `iat` and `exp`. Default 5. */
  clockTolerance?: number;
  /** How many `jti`s the replay cache holds at most. Default 100 000. */
  replayCacheSize?: number;
  /** JWKS fetch timeout. Default 5 000 ms. */
  fetchTimeoutMs?: number;
  /** At most one JWKS fetch per this interval, failed or not. Default 5 000 ms. */
  cooldownMs?: number;
  /** A JWKS older than this is refetched before use. Default 10 minutes. */
  maxJwksAgeMs?: number;
  /** Signature algorithms accepted. Default EdDSA, Ed25519, ES256 (SPEC §7). */
  algorithms?: readonly string[];
  /** Milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Default the global `fetch`. */
  fetch?: FetchLike;
  /**
   * Fetch the JWKS over plain http from a non-loopback host. Anyone on the path could then swap the
   * keys and forge assertions: only for a network you trust completely.
   */
  dangerouslyAllowInsecureJwksUrl?: boolean;
}

/** `typ` of a Gatehouse assertion; jose compares it without the `application/` prefix (RFC 8725 §3.11). */
export const assertionType = 'gatehouse-assertion+jwt';
/** SPEC §7: assertions live 60 s; a longer-lived one is not the gateway's. */
const maxLifetimeSeconds = 60;
const maxTokenLength = 8 * 1024;
const maxJtiLength = 256;

const knownOptions = new Set<string>([
  'jwksUrl', 'issuer', 'audience', 'clockTolerance', 'replayCacheSize', 'fetchTimeoutMs', 'cooldownMs',
  'maxJwksAgeMs', 'algorithms', 'now', 'fetch', 'dangerouslyAllowInsecureJwksUrl',
]);

/** Compiles the options once; keep ONE verifier per upstream so its replay cache sees every request. */
export function createVerifier(options: VerifierOptions): Verifier {
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) throw new TypeError(`createVerifier: unknown option "${key}"`);
  }
  const audience = originOf(options.audience, 'audience');
  if (typeof options.issuer !== 'string' || options.issuer.length === 0) throw new TypeError('createVerifier: issuer must be a non-empty string');
  const issuer = options.issuer;
  const jwksUrl = jwksUrlOf(options.jwksUrl, options.dangerouslyAllowInsecureJwksUrl === true);
  const clockTolerance = options.clockTolerance ?? 5;
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0) throw new TypeError('createVerifier: clockTolerance must be a non-negative number of seconds');
  const algorithms = [...(options.algorithms ?? ['EdDSA', 'Ed25519', 'ES256'])];
  const now = options.now ?? Date.now;

  const jwks: JwksCache = createJwksCache({
    url: jwksUrl,
    fetchTimeoutMs: positive(options.fetchTimeoutMs ?? 5_000, 'fetchTimeoutMs'),
    cooldownMs: positive(options.cooldownMs ?? 5_000, 'cooldownMs'),
    maxAgeMs: positive(options.maxJwksAgeMs ?? 10 * 60_000, 'maxJwksAgeMs'),
    maxBytes: 64 * 1024,
    now,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
  });
  const replay = createReplayCache({ maxEntries: options.replayCacheSize ?? 100_000, now });

  async function verify(request: AssertedRequest): Promise<VerifyResult> {
    const token = singleHeader(request.headers, assertionHeader);
    if (token === null || token === '') return refuse('missing');
    if (token === undefined || token.length > maxTokenLength) return refuse('malformed');

    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refuse('malformed');
    }
    if (typeof header.kid !== 'string' || typeof header.alg !== 'string' || !algorithms.includes(header.alg)) return refuse('malformed');

    const lookup = await jwks.key(header);
    if (!lookup.ok) return refuse(lookup.reason);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, lookup.key, {
        algorithms,
        typ: assertionType,
        issuer,
        audience,
        clockTolerance,
        // Makes jose refuse an `iat` in the future (beyond the tolerance) and one older than 60 s.
        maxTokenAge: maxLifetimeSeconds,
        currentDate: new Date(now()),
        requiredClaims: ['iat', 'exp', 'jti', 'htm', 'htu'],
      }));
    } catch (error) {
      return refuse(reasonFor(error));
    }

    const claims = asClaims(payload);
    if (!claims) return refuse('malformed');
    if (claims.exp - claims.iat > maxLifetimeSeconds) return refuse('malformed');
    if (claims.htm !== request.method) return refuse('wrong_method');
    const expected = expectedHtu(audience, request.url);
    if (expected === null || withoutQuery(claims.htu) !== expected) return refuse('wrong_url');

    // Last, and only for an assertion that passed every other check: a forged or misdirected one
    // must not take a place in the cache. Kept until it could no longer be accepted.
    const outcome = replay.consume(claims.jti, (claims.exp + clockTolerance) * 1000);
    if (outcome === 'replayed') return refuse('replayed');
    if (outcome === 'full') return refuse('replay_cache_full');
    return { ok: true, claims };
  }

  return { verify };
}

function refuse(reason: RefusalReason): VerifyResult {
  return { ok: false, reason };
}

/** jose's error classes, mapped to our stable reasons. */
function reasonFor(error: unknown): RefusalReason {
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed && error.reason === 'check_failed') {
    if (error.claim === 'iss') return 'wrong_issuer';
    if (error.claim === 'aud') return 'wrong_audience';
    if (error.claim === 'iat' || error.claim === 'nbf') return 'not_yet_valid';
  }
  if (error instanceof errors.JOSEError) return 'malformed';
  throw error;
}

function asClaims(payload: JWTPayload): AssertionClaims | undefined {
  const { iss, aud, sub, sid, jti, htm, htu, iat, exp } = payload as Record<string, unknown>;
  if (typeof iss !== 'string' || typeof aud !== 'string') return undefined;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > maxJtiLength) return undefined;
  if (typeof htm !== 'string' || typeof htu !== 'string') return undefined;
  if (typeof iat !== 'number' || typeof exp !== 'number') return undefined;
  if (sub !== undefined && typeof sub !== 'string') return undefined;
  if (sid !== undefined && typeof sid !== 'string') return undefined;
  const claims: AssertionClaims = { iss, aud, jti, htm, htu, iat, exp };
  if (sub !== undefined) claims.sub = sub;
  if (sid !== undefined) claims.sid = sid;
  return claims;
}

function originOf(text: string, name: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`createVerifier: ${name} must be an origin like "https://api.example.com"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== text.replace(/\/$/, '')) {
    throw new TypeError(`createVerifier: ${name} must be an origin like "https://api.example.com" (no path)`);
  }
  return url.origin;
}

function jwksUrlOf(value: string | URL, allowInsecure: boolean): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('createVerifier: jwksUrl must be an absolute URL');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol !== 'http:') throw new TypeError('createVerifier: jwksUrl must be an https URL');
  if (!isLoopback(url.hostname) && !allowInsecure) {
    throw new TypeError('createVerifier: jwksUrl must be https unless it is on a loopback address (see dangerouslyAllowInsecureJwksUrl)');
  }
  if (!isLoopback(url.hostname)) console.warn('@gatehouse/verify: fetching the JWKS over plain http (dangerouslyAllowInsecureJwksUrl)');
  return url;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`createVerifier: ${name} must be a positive integer`);
  return value;
}
