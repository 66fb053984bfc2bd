/**
 * The demo provider's own pages: a plain HTML form, no script at all, styled by one stylesheet
 * from the provider itself, under a Content-Security-Policy that allows nothing else.
 */

export interface LoginPageOptions {
  /** The form posts back here: /interaction/UID. */
  action: string;
  /** The relying party asking (its client_id), shown so the user knows who asks. */
  client: string;
  username?: string;
  error?: string;
}

export const stylesheetPath = '/demo-provider.css';

export function loginPage(options: LoginPageOptions): string {
  const error = options.error ? `\n      <p class="error" role="alert">${escapeHtml(options.error)}</p>` : '';
  return page('Sign in — Demo provider', `
    <h1>Demo provider</h1>
    <p class="muted">Sign in to continue to <strong>${escapeHtml(options.client)}</strong>.</p>
    <form method="post" action="${escapeHtml(options.action)}">${error}
      <label>User name
        <input name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${escapeHtml(options.username ?? '')}">
      </label>
      <label>Password
        <input name="password" type="password" autocomplete="current-password" required>
      </label>
      <div class="actions">
        <button type="submit" name="action" value="login" class="primary">Sign in</button>
        <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
      </div>
    </form>
    <p class="muted small">A local OpenID provider started by <code>npm start</code>. Its account is printed in the terminal.</p>`);
}

/**
 * oidc-provider's end-session confirmation (`features.rpInitiatedLogout.logoutSource`). `form` is
 * the provider's own empty form (id `op.logoutForm`, posting to /session/end/confirm with its
 * hidden `xsrf` field), kept as given; the buttons submit it through their `form` attribute, so
 * no script is needed. `logout=yes` ends the whole provider session; without it only this client's
 * part ends (OpenID Connect RP-Initiated Logout 1.0 §3 leaves the choice to the user).
 */
export function logoutPage(options: { form: string; client: string | null }): string {
  const site = options.client ? ` from <strong>${escapeHtml(options.client)}</strong>` : '';
  return page('Sign out — Demo provider', `
    <h1>Sign out of the demo provider?</h1>
    <p class="muted">You signed out${site}. Your session at this provider is still open.</p>
    ${options.form}
    <div class="actions">
      <button type="submit" form="op.logoutForm" name="logout" value="yes" class="primary">Sign out</button>
      <button type="submit" form="op.logoutForm">Stay signed in</button>
    </div>`);
}

/**
 * oidc-provider's page after the end-session flow (`postLogoutSuccessSource`). `back` is the
 * website to return to, from the demo's own settings, never from the request, so the link cannot
 * be pointed elsewhere.
 */
export function signedOutPage(options: { back: string | null; stillSignedIn: boolean }): string {
  const message = options.stillSignedIn
    ? 'The website is signed out. You are still signed in at the demo provider.'
    : 'You are signed out of the demo provider. The next sign-in asks for your password again.';
  const back = options.back ? `
    <p><a href="${escapeHtml(options.back)}" id="back">Back to the demo website</a></p>` : '';
  return page('Signed out — Demo provider', `
    <h1>Signed out</h1>
    <p>${message}</p>${back}`);
}

export function messagePage(title: string, message: string): string {
  return page(`${title} — Demo provider`, `
    <h1>${escapeHtml(title)}</h1>
    <p>${escapeHtml(message)}</p>`);
}

/**
 * The policy for every page above. `form-action` must also name where the provider redirects
 * after the form (the relying party's callback): browsers apply it to a submission's redirects.
 */
export function pageSecurityHeaders(formTargets: readonly string[]): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': ["default-src 'none'", "style-src 'self'", `form-action 'self' ${formTargets.join(' ')}`.trim(), "frame-ancestors 'none'", "base-uri 'none'"].join('; '),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

export const stylesheet = `
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #1f2a37; color: #1f2937; font: 16px/1.5 system-ui, sans-serif; }
main { background: #fff; border-radius: 12px; padding: 2rem; width: min(22rem, 90vw); box-shadow: 0 10px 30px rgb(0 0 0 / 0.3); }
h1 { margin: 0 0 0.5rem; font-size: 1.4rem; color: #7c2d12; }
label { display: block; margin: 1rem 0 0; font-weight: 600; }
input { display: block; box-sizing: border-box; width: 100%; margin-top: 0.25rem; padding: 0.5rem; font: inherit; border: 1px solid #9ca3af; border-radius: 6px; }
.actions { display: flex; gap: 0.5rem; margin-top: 1.5rem; }
button { flex: 1; padding: 0.6rem; font: inherit; border-radius: 6px; border: 1px solid #9ca3af; background: #fff; cursor: pointer; }
button.primary { background: #c2410c; border-color: #c2410c; color: #fff; font-weight: 600; }
.error { margin: 1rem 0 0; padding: 0.5rem 0.75rem; border-radius: 6px; background: #fee2e2; color: #991b1b; }
.muted { color: #6b7280; }
.small { font-size: 0.85rem; margin-top: 1.5rem; }
a { color: #c2410c; font-weight: 600; }
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <link rel="stylesheet" href="${stylesheetPath}">
</head>
<body>
  <main>${body}
  </main>
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
