import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../errors/gateway-error.js';

/**
 * SPEC §9: "Navigation errors on the callback may answer with a page; fetch calls always get JSON."
 * A provider's redirect back is a top-level navigation: a person looking at raw JSON learns
 * nothing, so such a request gets the same status and message as a small HTML page with a way
 * back. Everything else (fetch, curl, a test's client) keeps the JSON body.
 */
export function wantsPage(headers: IncomingHttpHeaders): boolean {
  const mode = headers['sec-fetch-mode'];
  // Fetch Metadata (W3C): browsers send `navigate` only for navigations. Without it (an older
  // browser), only an Accept that names HTML first counts, never the `*/*` of fetch and curl.
  if (typeof mode === 'string') return mode === 'navigate';
  return /^text\/html\b/.test(headers.accept ?? '');
}

/** The page's headers: nothing but the HTML itself may load or run (no script, style or frame). */
export const errorPageHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
});

/** The page for a refused sign-in: the registry's code and message (never a token or state). */
export function navigationErrorPage(error: GatewayError): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in did not complete</title>
</head>
<body>
<main>
<h1>Sign-in did not complete</h1>
<p id="error-message">${escapeHtml(error.message)}</p>
<p><a id="error-back" href="/">Back to the start page</a> to try again.</p>
<p><small>Error code: <code id="error-code">${escapeHtml(error.code)}</code></small></p>
</main>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
