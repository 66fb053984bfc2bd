import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { loginPage, logoutPage, messagePage, signedOutPage, pageSecurityHeaders, stylesheet, stylesheetPath } from './login-page.js';
import { readOrCreateProviderKeys } from './provider-keys.js';
import { openAdapterStore } from './sqlite-adapter.js';

/**
 * The demo's OpenID provider: panva's oidc-provider (the certified implementation Gatehouse's tests
 * also run) with one client (Gatehouse), one account and a login page of its own. Everything it
 * must remember across restarts (signing keys, cookie keys, grants and tokens) lives under `dir`.
 */

export interface DemoAccount {
  /** What the user types on the login page. */
  username: string;
  password: string;
  sub: string;
  name: string;
  email: string;
}

export interface DemoProviderOptions {
  /** e.g. http://127.0.0.1:9001: the provider listens on this host and port. */
  issuer: string;
  /** Where its state is kept (created, mode 0700). */
  dir: string;
  client: { clientId: string; clientSecret: string; redirectUris: string[]; postLogoutRedirectUris?: string[] };
  account: DemoAccount;
  /** The relying party's website, linked from the signed-out page. */
  siteUrl?: string;
}

export interface DemoProvider {
  issuer: string;
  close(): Promise<void>;
}

const maxFormBytes = 8 * 1024;

export async function startDemoProvider(options: DemoProviderOptions): Promise<DemoProvider> {
  const { issuer, client, account } = options;
  const url = new URL(issuer);
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const keys = await readOrCreateProviderKeys(join(options.dir, 'keys.json'));
  const store = openAdapterStore(join(options.dir, 'store.db'));
  // The login form's redirects end at the relying party's callback (see pageSecurityHeaders).
  const formTargets = [...new Set(client.redirectUris.map((u) => new URL(u).origin))];
  const headers = pageSecurityHeaders(formTargets);

  const provider = new Provider(issuer, {
    adapter: (model: string) => store.adapterFor(model),
    clients: [{
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      post_logout_redirect_uris: client.postLogoutRedirectUris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }],
    jwks: { keys: keys.signing },
    cookies: { keys: keys.cookies },
    async findAccount(_ctx: unknown, id: string) {
      if (id !== account.sub) return undefined;
      return {
        accountId: id,
        claims: async () => ({ sub: account.sub, name: account.name, preferred_username: account.username, email: account.email, email_verified: true }),
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      // The browser comes here with Gatehouse's logoutUrl (SPEC §9): the provider asks before
      // ending its own session, then says it did, on pages like its login page.
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx: { oidc: { client?: { clientId: string } }; body: unknown; set(headers: Record<string, string>): void }, form: string) {
          ctx.set(headers);
          ctx.body = logoutPage({ form, client: ctx.oidc.client?.clientId ?? null });
        },
        async postLogoutSuccessSource(ctx: { oidc: { client?: { clientId: string } }; body: unknown; set(headers: Record<string, string>): void }) {
          ctx.set(headers);
          // A client_id comes only when the user chose to stay signed in at the provider.
          ctx.body = signedOutPage({ back: options.siteUrl ?? null, stillSignedIn: ctx.oidc.client !== undefined });
        },
      },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // Short access tokens, so the demo shows Gatehouse refreshing them (SPEC §9); every login gets a
    // refresh token, as the sessions Gatehouse keeps for 12 hours need one.
    ttl: { AccessToken: 600, IdToken: 600, AuthorizationCode: 60, RefreshToken: 86_400, Interaction: 600, Session: 86_400, Grant: 86_400 },
    issueRefreshToken: async () => true,
    async renderError(ctx: { type: string; body: string; set(headers: Record<string, string>): void }, out: { error?: string; error_description?: string }) {
      ctx.set(headers);
      ctx.type = 'html';
      ctx.body = messagePage('Sign-in error', out.error_description ?? out.error ?? 'The request could not be completed.');
    },
  });
  const callback = provider.callback();

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    if (path === stylesheetPath && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : stylesheet);
      return;
    }
    if (/^\/interaction\/[^/]+$/.test(path)) {
      interact(req, res, path).catch(() => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(400, headers);
        res.end(messagePage('Sign-in expired', 'This sign-in is no longer valid. Go back to the website and start again.'));
      });
      return;
    }
    callback(req, res);
  });

  async function interact(req: IncomingMessage, res: ServerResponse, action: string): Promise<void> {
    // Throws when the interaction is unknown or expired, or the browser lacks its cookie.
    const details = await provider.interactionDetails(req, res);
    const clientId = details.params.client_id ?? '';
    if (req.method === 'GET') {
      res.writeHead(200, headers);
      res.end(loginPage({ action, client: clientId }));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { ...headers, allow: 'GET, POST' });
      res.end(messagePage('Not allowed', 'Use the sign-in form.'));
      return;
    }
    const form = await readForm(req);
    if (form.get('action') === 'cancel') {
      // RFC 6749 §4.1.2.1: the user declined; the relying party gets error=access_denied.
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, { mergeWithLastSubmission: false });
      return;
    }
    const username = form.get('username') ?? '';
    if (!matches(username, account.username) || !matches(form.get('password') ?? '', account.password)) {
      res.writeHead(401, headers);
      res.end(loginPage({ action, client: clientId, username, error: 'Wrong user name or password.' }));
      return;
    }
    const grant = new provider.Grant({ accountId: account.sub, clientId });
    grant.addOIDCScope(details.params.scope ?? 'openid');
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId: account.sub, amr: ['pwd'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(url.port || 80), url.hostname.replace(/^\[|\]$/g, ''), () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    store.close();
    throw error;
  }

  return {
    issuer,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((error) => {
        store.close();
        if (error) reject(error);
        else resolve();
      });
      server.closeIdleConnections();
    }),
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxFormBytes) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Compares SHA-256 digests: equal lengths for timingSafeEqual, nothing about either leaks through timing. */
function matches(presented: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
