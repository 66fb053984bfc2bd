import { createHash } from 'node:crypto';
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

/** The page's one style block; the policy below admits it by its hash and nothing else (CSP Level 3 §8.3). */
const style = 'body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f4f6fb;color:#1c2333;font:16px/1.5 system-ui,sans-serif}'
  + 'main{background:#fff;border:1px solid #dfe3ec;border-radius:12px;padding:2rem;max-width:28rem;margin:1rem}'
  + 'h1{margin:0 0 .75rem;font-size:1.4rem}p{margin:.5rem 0}a{color:#2f5bea;font-weight:600}small{color:#667085}';
const styleHash = createHash('sha256').update(style, 'utf8').digest('base64');

/** The page's headers: no script, no frame, no other resource; only its own style block. */
export const errorPageHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${styleHash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
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
<style>${style}</style>
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
