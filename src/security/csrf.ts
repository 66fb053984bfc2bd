/**
 * CSRF decisions (SPEC §4.3). A custom request header cannot be sent cross-site without a CORS
 * preflight, which Gatehouse always refuses (OWASP CSRF Prevention Cheat Sheet, "Custom Request
 * Headers"); Origin and Sec-Fetch-Site are checked as a second, independent layer (Fetch Metadata).
 */
export type CsrfVerdict = { ok: true } | { ok: false; reason: 'missing_header' | 'foreign_origin' | 'cross_site' };

export interface CsrfHeaders {
  xCsrf: string | string[] | undefined;
  origin: string | string[] | undefined;
  secFetchSite: string | string[] | undefined;
}

export function checkCsrf(headers: CsrfHeaders, publicOrigin: string): CsrfVerdict {
  if (headers.xCsrf !== '1') return { ok: false, reason: 'missing_header' };
  if (headers.origin !== undefined && headers.origin !== publicOrigin) return { ok: false, reason: 'foreign_origin' };
  if (headers.secFetchSite !== undefined && headers.secFetchSite !== 'same-origin' && headers.secFetchSite !== 'none') {
    return { ok: false, reason: 'cross_site' };
  }
  return { ok: true };
}

/** A CORS preflight: OPTIONS carrying Access-Control-Request-Method (Fetch standard §3.2.2). */
export function isPreflight(method: string, headers: { 'access-control-request-method'?: string | string[] }): boolean {
  return method === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
}
