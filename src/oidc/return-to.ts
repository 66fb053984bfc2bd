/**
 * The `returnTo` of a login (SPEC §9): a path on this origin, never under /auth/. Anything else is
 * an open redirect (OWASP Unvalidated Redirects and Forwards): `//evil.example` and `/\evil.example`
 * are other hosts to a browser (WHATWG URL treats "\" as "/"), and percent-encoded forms of those are
 * refused too, since some servers and clients decode before resolving. Returns the canonical
 * path (with query and fragment) to redirect to, or null.
 */
export function checkReturnTo(returnTo: string | null, publicOrigin: string): string | null {
  if (returnTo === null || returnTo === '') return '/';
  if (returnTo.length > 2048 || !returnTo.startsWith('/')) return null;
  // Control characters and backslashes have no place in a path we produce; browsers strip tabs and
  // newlines from URLs and read "\" as "/", so "/\t/evil.example" would be "//evil.example".
  if (/[\u0000-\u001f\u007f\\]/.test(returnTo)) return null;
  let decoded = returnTo;
  for (let round = 0; round < 3; round += 1) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      return null;
    }
    if (/[\u0000-\u001f\u007f\\]/.test(next) || next.startsWith('//')) return null;
    if (next === decoded) break;
    decoded = next;
  }
  if (returnTo.startsWith('//')) return null;
  let url: URL;
  try {
    url = new URL(returnTo, publicOrigin);
  } catch {
    return null;
  }
  if (url.origin !== new URL(publicOrigin).origin) return null;
  // Gatehouse's own endpoints are no destination: a login that lands on /auth/logout or on another
  // login would be a way to chain requests through the redirect.
  const path = decodedPath(url.pathname);
  if (path === null || path === '/auth' || path.startsWith('/auth/')) return null;
  return `${url.pathname}${url.search}${url.hash}`;
}

function decodedPath(pathname: string): string | null {
  try {
    return new URL(decodeURIComponent(pathname).toLowerCase(), 'http://x').pathname;
  } catch {
    return null;
  }
}
