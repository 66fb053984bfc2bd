/**
 * The client and account of the user-token scenario's provider (bench/http-layer/oidc-provider.mjs),
 * and the browser's part of a login there (`loginAt`).
 */

export const benchClient = { clientId: 'gatehouse-bench', clientSecret: 'bench-oidc-client-secret-2b7e9d4c1a' };
export const benchAccount = { sub: 'bench-user', email: 'bench@corp.example', email_verified: true };

/**
 * What a browser does from the gateway's `/auth/oidc/login` to its callback: follows the provider's
 * redirects, submits the login, and comes back with the session cookie (`name=value`).
 */
export async function loginAt(gatewayUrl, issuer, cookieName) {
  const start = await fetch(`${gatewayUrl}/auth/oidc/login?provider=corp&returnTo=/`, { redirect: 'manual' });
  const loginCookie = (start.headers.get('set-cookie') ?? '').split(';', 1)[0];
  let url = start.headers.get('location');
  const jar = new Map();
  let posted = false;
  for (let hop = 0; hop < 10 && url.startsWith(issuer); hop += 1) {
    const body = /\/interaction\/[^/?]+$/.test(new URL(url).pathname) && !posted ? new URLSearchParams({ login: benchAccount.sub }).toString() : undefined;
    const res = await fetch(url, {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body,
    });
    if (body) posted = true;
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0];
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    await res.arrayBuffer();
    const location = res.headers.get('location');
    if (!location) throw new Error(`the provider answered ${res.status} without a redirect`);
    url = new URL(location, url).toString();
  }
  const callback = new URL(url);
  const back = await fetch(`${gatewayUrl}${callback.pathname}${callback.search}`, { redirect: 'manual', headers: { cookie: loginCookie } });
  const session = back.headers.getSetCookie().find((line) => line.startsWith(`${cookieName}=`));
  if (back.status !== 303 || !session) throw new Error(`OIDC login: the callback answered ${back.status} ${await back.text()}`);
  return session.split(';', 1)[0];
}
