import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGateway, type Gateway } from '../src/app/create-gateway.js';
import { openServices } from '../src/app/open-services.js';
import type { GatewayConfig } from '../src/config/schema.js';
import type { Logger } from '../src/log/logger.js';
import { startDemoProvider, type DemoAccount, type DemoProvider } from './provider/demo-provider.js';
import { startDemoUpstream, type DemoUpstream } from './upstream/server.js';

/**
 * The demo's pieces, started together: the demo OpenID provider (when the configuration names a
 * provider `demo`), the demo upstream API and Gatehouse in front of them, with a local demo user.
 * `npm start` (demo/start.ts) runs it on demo/gatehouse.yaml and ./data/; the browser tests run the
 * same on free ports and a temporary folder.
 */

export interface DemoOptions {
  config: GatewayConfig;
  /** All state the gateway does not keep itself: tokens, the provider's keys, grants and account. */
  dataDir: string;
  logger?: Logger;
}

export interface RunningDemo {
  gateway: Gateway;
  upstream: DemoUpstream;
  provider: DemoProvider | null;
  /** The local demo user; its password only when this start created it (it is stored hashed). */
  localUser: { name: string; password: string | null };
  /** The demo provider's account, when there is a demo provider. */
  providerAccount: Pick<DemoAccount, 'username' | 'password'> | null;
  close(): Promise<void>;
}

export const demoUser = 'demo';
export const demoProviderName = 'demo';
const weatherUpstream = 'weather';
const weatherSecret = 'weather-token';
const actor = { user: 'demo-setup' };

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const { config, dataDir } = options;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = readOrCreateSecret(join(dataDir, 'demo-upstream.token'));

  const upstreamConfig = config.upstreams.find((u) => u.name === weatherUpstream);
  if (!upstreamConfig) throw new Error(`the demo configuration must define the upstream "${weatherUpstream}"`);
  const upstreamUrl = new URL(upstreamConfig.url);

  const providerConfig = config.oidc.providers.find((p) => p.name === demoProviderName);
  const providerDir = join(dataDir, 'demo-provider');
  if (providerConfig) mkdirSync(providerDir, { recursive: true, mode: 0o700 });
  const clientSecret = providerConfig ? readOrCreateSecret(join(providerDir, 'client.secret')) : null;
  const account: DemoAccount | null = providerConfig ? {
    username: 'river',
    password: readOrCreateSecret(join(providerDir, 'account.password'), 12),
    sub: 'river-0001',
    name: 'River Song',
    email: 'river@demo-provider.localhost',
  } : null;

  // First-run setup happens before the gateway is built: it refuses to start while a secret the
  // configuration names is missing.
  const password = randomBytes(18).toString('base64url');
  const setup = await openServices(config, { createMasterKey: true });
  let outcome: 'created' | 'exists';
  try {
    // Each secret follows its file, so deleting either one heals on the next start.
    if ((await setup.secrets.reveal(weatherSecret)) !== token) await setup.secrets.set(weatherSecret, token, actor);
    if (providerConfig && clientSecret && (await setup.secrets.reveal(providerConfig.clientSecret)) !== clientSecret) {
      await setup.secrets.set(providerConfig.clientSecret, clientSecret, actor);
    }
    outcome = await setup.accounts.add({ name: demoUser, roles: ['user'], password, requireReset: false }, actor);
  } finally {
    await setup.close();
  }

  const started: { close(): Promise<void> }[] = [];
  const closeAll = async (): Promise<void> => {
    const results = await Promise.allSettled(started.reverse().map((s) => s.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  try {
    const provider = providerConfig && clientSecret && account ? await startDemoProvider({
      issuer: providerConfig.issuer,
      dir: providerDir,
      client: {
        clientId: providerConfig.clientId,
        clientSecret,
        redirectUris: [new URL(`/auth/oidc/callback/${providerConfig.name}`, config.server.publicOrigin).href],
        postLogoutRedirectUris: [new URL('/', config.server.publicOrigin).href],
      },
      account,
      siteUrl: new URL('/', config.server.publicOrigin).href,
    }) : null;
    if (provider) started.push(provider);

    const upstream = await startDemoUpstream({
      host: upstreamUrl.hostname.replace(/^\[|\]$/g, ''),
      port: Number(upstreamUrl.port || 80),
      token,
      // With `assertion: true` in demo/gatehouse.yaml the upstream also demands Gatehouse's signed
      // assertion (SPEC §7), checked against the keys this gateway publishes. It fetches them from
      // publicOrigin, as an upstream elsewhere would: Gatehouse answers only the host names it is
      // configured for (SPEC §4.4), so fetching by the listening address would need that address
      // in server.allowedHosts, which would also open the website on a name CSRF checks refuse.
      ...(upstreamConfig.assertion && {
        assertion: { jwksUrl: new URL('/.well-known/jwks.json', config.server.publicOrigin).href, issuer: config.server.publicOrigin, audience: upstreamUrl.origin },
      }),
      // GET /v1/me takes the signed-in user's own access token (a `user-token` upstream) and asks
      // the demo provider whose it is.
      ...(provider && { userTokens: { issuer: provider.issuer } }),
    });
    started.push(upstream);

    const gateway = await createGateway({ config, ...(options.logger && { logger: options.logger }) });
    await gateway.start();
    started.push({ close: () => gateway.stop() });

    return {
      gateway,
      upstream,
      provider,
      localUser: { name: demoUser, password: outcome === 'created' ? password : null },
      providerAccount: account && { username: account.username, password: account.password },
      close: closeAll,
    };
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
}

/** A random secret, created once, readable by this user only (`bytes` of entropy, base64url). */
function readOrCreateSecret(file: string, bytes = 32): string {
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length > 0) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(bytes).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
