import { SignJWT, type JWTPayload } from 'jose';
import type { Clock } from '../security/clock.js';
import type { RandomBytes } from '../security/random.js';
import type { LiveSession } from '../sessions/session-service.js';
import { signingAlgorithm, type ActiveSigningKey } from './signing-keys.js';

/** The request header that carries the assertion (SPEC §7); lower case, as the proxy builds headers. */
export const assertionHeader = 'gatehouse-assertion';

/**
 * JWS `typ` (RFC 7515 §4.1.9, explicit typing per RFC 8725 §3.11): a verifier that requires it
 * cannot be handed some other JWT signed by the same key and take it for an assertion.
 */
export const assertionType = 'gatehouse-assertion+jwt';

/** SPEC §7: an assertion is valid for 60 s. */
export const assertionLifetimeSeconds = 60;

/** 128 random bits: a `jti` never repeats (RFC 7519 §4.1.7 asks for a negligible collision chance). */
const jtiBytes = 16;

export interface AssertionClaims {
  /** `iss`: `server.publicOrigin`. */
  issuer: string;
  /** `aud`: the upstream's url origin. */
  audience: string;
  /** `sub`: the user name; null on a public route (no session is looked up there). */
  subject: string | null;
  /** `sid`: the session's non-secret handle (never its id or the id's hash); null with no session. */
  sessionHandle: string | null;
  /** `htm`: the request method. */
  method: string;
  /** `htu`: the URL the request is sent to, without query or fragment (RFC 9449 §4.2). */
  url: string;
}

/**
 * Signs one Gatehouse-Assertion (SPEC §7; format in docs/assertions.md): a compact JWS, EdDSA,
 * header `{alg, kid, typ}`, with `iat` now and `exp` 60 s later (whole seconds), and a random `jti`.
 */
export async function signAssertion(key: ActiveSigningKey, claims: AssertionClaims, deps: { clock: Clock; random: RandomBytes }): Promise<string> {
  const iat = Math.floor(deps.clock.now() / 1000);
  const payload: JWTPayload = { htm: claims.method, htu: claims.url };
  if (claims.sessionHandle !== null) payload.sid = claims.sessionHandle;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: signingAlgorithm, kid: key.kid, typ: assertionType })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setJti(deps.random(jtiBytes).toString('base64url'))
    .setIssuedAt(iat)
    .setExpirationTime(iat + assertionLifetimeSeconds);
  if (claims.subject !== null) jwt.setSubject(claims.subject);
  return jwt.sign(key.key);
}

/** What the proxy needs to assert one forwarded request. */
export interface UpstreamAssertion {
  /** `path` as sent to the upstream after its url's own path (stripPrefix applied); no query. */
  sign(request: { method: string; path: string; live: LiveSession | null }): Promise<string>;
}

export interface UpstreamAssertionOptions {
  /** Read on every call, so a rotation picked up by a refresh is used at once. */
  keys: { readonly active: ActiveSigningKey };
  /** `server.publicOrigin`. */
  issuer: string;
  /** The upstream's configured `url`. */
  upstreamUrl: string;
  clock: Clock;
  random: RandomBytes;
}

/**
 * The assertion signer for one upstream, with `aud` and the `htu` prefix computed once. The prefix
 * is the upstream's origin and its url's path without trailing slashes, which is exactly what the
 * Forwarder puts in front of the forwarded path (proxy/forwarder.ts), so `htu` is the URL the
 * upstream receives, minus the query.
 */
export function upstreamAssertion(options: UpstreamAssertionOptions): UpstreamAssertion {
  const url = new URL(options.upstreamUrl);
  const audience = url.origin;
  const prefix = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  const deps = { clock: options.clock, random: options.random };
  return {
    sign: ({ method, path, live }) => signAssertion(options.keys.active, {
      issuer: options.issuer,
      audience,
      subject: live?.user.name ?? null,
      sessionHandle: live?.session.handle ?? null,
      method,
      url: prefix + path,
    }, deps),
  };
}
