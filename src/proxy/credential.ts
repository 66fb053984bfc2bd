import type { CredentialConfig, TokenExchangeConfig } from '../config/schema.js';
import { hopByHopHeaders } from './hop-by-hop.js';

/** How an upstream's secret is attached to forwarded requests, and what must never come back. */
export interface AttachedCredential {
  /** Lower case; replaces any client header of the same name (SPEC §4.4). */
  readonly headerName?: string;
  readonly headerValue?: string;
  /** Appended to the query string by `withQueryCredential`, replacing any client parameter of that name. */
  readonly queryParam?: { readonly name: string; readonly value: string };
  /**
   * Byte strings whose presence in a response means the secret leaked: every secret value and the
   * forms an upstream would most plausibly echo it in (percent-encoded, form-encoded, JSON-escaped,
   * and the base64 `user:password` of basic auth). Never empty strings.
   */
  readonly leakPatterns: Buffer[];
  /**
   * `user-token` (SPEC §9): nothing is attached at compile time; each request sends its session's
   * access token from this provider, or with `exchange` the token it was traded for (RFC 8693; see
   * `userTokenCredential`).
   */
  readonly userToken?: { readonly provider: string; readonly exchange?: TokenExchangeConfig };
}

/** Where secret values come from (the decrypted secret store); `undefined` when not set. */
export interface SecretValues {
  get(name: string): string | undefined;
}

/** Header names a credential may not use: they would break framing or routing of the request. */
const unusableHeaderNames: ReadonlySet<string> = new Set([...hopByHopHeaders, 'host', 'content-length', 'content-type', 'content-encoding']);

/**
 * Compiles an upstream's `credential` (SPEC §3) once, against the current secret values.
 *
 * Throws when a secret is missing or empty, or cannot be sent (control characters in a header
 * value, ":" in a basic-auth user); the message names the secret, never its value. Secrets
 * shorter than 8 bytes are refused by `gatehouse secret set`, not here: whatever is stored is used,
 * so a short secret simply makes a short (false-positive-prone) leak pattern.
 */
export function compileCredential(credential: CredentialConfig | undefined, secrets: SecretValues): AttachedCredential {
  if (credential === undefined) return { leakPatterns: [] };
  switch (credential.type) {
    case 'bearer': {
      const value = secretValue(secrets, credential.secret);
      assertHeaderValue(value, credential.secret);
      // RFC 6750 §2.1.
      return { headerName: 'authorization', headerValue: `Bearer ${value}`, leakPatterns: patterns(leakForms(value)) };
    }
    case 'header': {
      const name = credential.name.toLowerCase();
      if (unusableHeaderNames.has(name)) throw new Error(`upstream credential: "${credential.name}" cannot carry a credential`);
      const value = secretValue(secrets, credential.secret);
      assertHeaderValue(value, credential.secret);
      return { headerName: name, headerValue: value, leakPatterns: patterns(leakForms(value)) };
    }
    case 'basic': {
      const user = secretValue(secrets, credential.user);
      const password = secretValue(secrets, credential.password);
      // RFC 7617 §2: the user-id cannot contain a colon; the pair is encoded as UTF-8 then base64.
      if (user.includes(':')) throw new Error(`upstream credential: secret "${credential.user}" is a basic-auth user and may not contain ":"`);
      assertHeaderValue(user, credential.user);
      assertHeaderValue(password, credential.password);
      const pair = `${user}:${password}`;
      const token = Buffer.from(pair, 'utf8').toString('base64');
      // The user alone is not a pattern: it is an account name an upstream may legitimately echo.
      return {
        headerName: 'authorization',
        headerValue: `Basic ${token}`,
        leakPatterns: patterns([...leakForms(password), ...leakForms(pair), token]),
      };
    }
    case 'query': {
      const value = secretValue(secrets, credential.secret);
      return { queryParam: { name: credential.name, value }, leakPatterns: patterns(leakForms(value)) };
    }
    case 'user-token':
      return { userToken: { provider: credential.provider, ...(credential.exchange ? { exchange: credential.exchange } : {}) }, leakPatterns: [] };
  }
}

/**
 * One request's credential for a `user-token` upstream: the user's access token as a bearer token
 * (RFC 6750 §2.1), or the token it was exchanged for when given (RFC 8693), and every token of the
 * session and the exchanged one as leak patterns, so an upstream that echoes the token it got, or
 * somehow the session's access, refresh or ID token, is withheld like a secret echo (SPEC §9).
 * Null when the bearer cannot go into a header (a provider would not issue such a token).
 */
export function userTokenCredential(tokens: { readonly accessToken: string; readonly idToken: string | null; readonly refreshToken: string | null }, exchanged: string | null = null): AttachedCredential | null {
  const bearer = exchanged ?? tokens.accessToken;
  if (bearer === '' || !/^[\x21-\x7e]+$/.test(bearer)) return null;
  const forms = [exchanged, tokens.accessToken, tokens.idToken, tokens.refreshToken].flatMap((token) => token ? leakForms(token) : []);
  return { headerName: 'authorization', headerValue: `Bearer ${bearer}`, leakPatterns: patterns(forms) };
}

/**
 * The query string (without "?") with the credential parameter appended, after removing every
 * client parameter whose name decodes to the same name ignoring case (some frameworks read
 * parameter names case-insensitively, and would otherwise see the client's value first).
 * Other parameters are kept verbatim.
 */
export function withQueryCredential(query: string, param: { readonly name: string; readonly value: string }): string {
  const own = `${encodeURIComponent(param.name)}=${encodeURIComponent(param.value)}`;
  if (query === '') return own;
  const wanted = param.name.toLowerCase();
  const kept = query.split('&').filter((part) => parameterName(part).toLowerCase() !== wanted);
  kept.push(own);
  return kept.join('&');
}

/** The decoded name of one `name=value` query part (application/x-www-form-urlencoded rules). */
function parameterName(part: string): string {
  const equals = part.indexOf('=');
  const raw = (equals === -1 ? part : part.slice(0, equals)).replaceAll('+', ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function secretValue(secrets: SecretValues, name: string): string {
  const value = secrets.get(name);
  if (value === undefined) throw new Error(`upstream credential: no secret named "${name}" is stored (gatehouse secret set ${name})`);
  if (value === '') throw new Error(`upstream credential: secret "${name}" is empty`);
  return value;
}

/** RFC 9110 §5.5: a field value has no CR, LF, NUL or other controls (HTAB aside), and is latin-1 on the wire. */
function assertHeaderValue(value: string, name: string): void {
  if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(value)) {
    throw new Error(`upstream credential: secret "${name}" contains characters that cannot be sent in a header`);
  }
}

/** The value and the encodings of it an upstream would most plausibly reflect. */
function leakForms(value: string): string[] {
  return [
    value,
    encodeURIComponent(value),
    new URLSearchParams([['', value]]).toString().slice(1),
    JSON.stringify(value).slice(1, -1),
  ];
}

function patterns(forms: readonly string[]): Buffer[] {
  return [...new Set(forms)].filter((form) => form !== '').map((form) => Buffer.from(form, 'utf8'));
}
