/**
 * The OpenID provider of the user-token scenario (bench/run.mjs, contenders GL and GU): panva's
 * oidc-provider on 127.0.0.1, as test/helpers/oidc-provider.ts runs it, with one client and one
 * account. Access tokens live an hour, so nothing is refreshed while the load runs: what is measured
 * is a request with a fresh user token. Its login page is the fixture's: POST /interaction/UID
 * logs the account in and grants the scopes (bench/lib/oidc-login.mjs plays the browser).
 * BENCH_REDIRECT_URIS: the gateways' callback URLs, comma-separated. `ready` carries the issuer.
 * oidc-provider warns "Unsupported runtime" on Node 20; it works.
 */
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { serveAsChild } from '../lib/child.mjs';
import { benchAccount, benchClient } from '../lib/oidc-login.mjs';

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const redirectUri = process.env.BENCH_REDIRECT_URIS?.split(',') ?? [];
const provider = new Provider(issuer, {
  clients: [{ client_id: benchClient.clientId, client_secret: benchClient.clientSecret, redirect_uris: redirectUri, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }],
  async findAccount(_ctx, id) {
    if (id !== benchAccount.sub) return undefined;
    return { accountId: id, claims: async () => benchAccount };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'offline_access', 'email'],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 3600, IdToken: 3600, RefreshToken: 7200, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 7200 },
  cookies: { keys: ['oidc-bench-provider-cookie-key-0123456789'] },
  issueRefreshToken: async () => true,
});
const handle = provider.callback();
server.on('request', (req, res) => {
  if (req.url?.startsWith('/interaction/') && req.method === 'POST') {
    void interact(req, res).catch((error) => {
      res.statusCode = 500;
      res.end(String(error));
    });
    return;
  }
  handle(req, res);
});
async function interact(req, res) {
  for await (const _ of req);
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: benchAccount.sub, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope ?? 'openid');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: benchAccount.sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
}
serveAsChild({ issuer, ...benchClient }, () => new Promise((resolve) => {
  server.closeAllConnections();
  server.close(() => resolve());
}));
