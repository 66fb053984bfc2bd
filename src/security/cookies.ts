import { parse, serialize } from 'cookie';

/** How the session cookie is named and scoped; fixed once from `server.publicOrigin`. */
export interface SessionCookiePolicy {
  name: string;
  secure: boolean;
  sameSite: 'strict' | 'lax';
}

/**
 * Over HTTPS the `__Host-` prefix pins the cookie to this exact host, Path=/ and Secure (RFC 6265bis
 * §4.1.3.2), which stops a sibling subdomain from planting a session (fixation). Never a Domain attribute.
 */
export function sessionCookiePolicy(publicOrigin: string, sameSite: 'strict' | 'lax'): SessionCookiePolicy {
  const secure = publicOrigin.startsWith('https:');
  return { name: secure ? '__Host-gatehouse' : 'gatehouse', secure, sameSite };
}

export function buildSessionCookie(policy: SessionCookiePolicy, token: string): string {
  return serialize(policy.name, token, { path: '/', httpOnly: true, secure: policy.secure, sameSite: policy.sameSite });
}

export function buildClearingCookie(policy: SessionCookiePolicy): string {
  return serialize(policy.name, '', { path: '/', httpOnly: true, secure: policy.secure, sameSite: policy.sameSite, maxAge: 0, expires: new Date(0) });
}

export type CookieLookup =
  | { kind: 'absent' }
  | { kind: 'one'; value: string }
  /**
   * Two cookies of our name: one may have been planted from a sibling origin, so neither is trusted
   * for access. `values` lets logout end every one of them.
   */
  | { kind: 'ambiguous'; values: string[] };

/** Finds the session cookie in a Cookie header without trusting a duplicate. */
export function readSessionCookie(header: string | undefined, name: string): CookieLookup {
  if (!header) return { kind: 'absent' };
  const value = parse(header)[name];
  if (value === undefined) return { kind: 'absent' };
  // `parse` keeps only the first of several same-named pairs; parse pair by pair to see the others.
  const values: string[] = [];
  for (const pair of header.split(';')) {
    const found = parse(pair)[name];
    if (found !== undefined) values.push(found);
  }
  return values.length > 1 ? { kind: 'ambiguous', values } : { kind: 'one', value };
}
