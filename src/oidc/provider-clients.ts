import * as client from 'openid-client';
import type { OidcProviderConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../security/clock.js';

/** Discovery and every call to a provider give up after this long: a login waits for nothing longer. */
export const providerTimeoutSeconds = 5;

/**
 * The relying-party configuration of each provider (openid-client), discovered on first use and
 * kept: a provider that is down at start does not stop the gateway, its logins answer 503
 * `idp_unavailable` until discovery succeeds (SPEC §9). Discovery checks that the metadata's
 * `issuer` is exactly the configured one (OpenID Connect Discovery 1.0 §4.3).
 *
 * Every configuration verifies the signature of each ID token a token endpoint answers (a login's,
 * a refresh's) against the provider's `jwks_uri` keys (OpenID Connect Core 1.0 §3.1.3.7 step 6).
 * openid-client 6 leaves this off, since §3.1.3.7 lets TLS stand in for it; Gatehouse does not rely
 * on TLS alone (an `allowInsecureHttp` issuer has none, a TLS-intercepting middlebox breaks it).
 * The keys are fetched once and cached (refetched after 5 minutes, or for an unknown `kid`).
 */
export class ProviderClients {
  readonly #providers: ReadonlyMap<string, OidcProviderConfig>;
  readonly #secret: (name: string) => Promise<string | null>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #configs = new Map<string, Promise<{ config: client.Configuration; secret: string }>>();

  constructor(deps: { providers: readonly OidcProviderConfig[]; secret: (name: string) => Promise<string | null>; logger: Logger; clock: Clock }) {
    this.#providers = new Map(deps.providers.map((p) => [p.name, p]));
    this.#secret = deps.secret;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
  }

  provider(name: string): OidcProviderConfig | null {
    return this.#providers.get(name) ?? null;
  }

  get names(): string[] {
    return [...this.#providers.keys()];
  }

  /** The provider's configuration; GatewayError idp_unavailable when it cannot be discovered now. */
  async config(provider: OidcProviderConfig): Promise<client.Configuration> {
    let pending = this.#configs.get(provider.name);
    if (!pending) {
      pending = this.#discover(provider);
      this.#configs.set(provider.name, pending);
      // A failure is not kept: the next login tries again.
      pending.catch(() => this.#configs.delete(provider.name));
    }
    const { config, secret } = await pending;
    // Token times (`exp`, `iat`) are judged by the gateway's clock, which is injected (tests move
    // it): openid-client takes it as a skew from the system clock, fixed per configuration, so a
    // skewed clock gets a configuration of its own over the same metadata and the same key cache.
    const skew = Math.round((this.#clock.now() - Date.now()) / 1000);
    if (skew === 0) return config;
    const skewed = new client.Configuration(config.serverMetadata(), provider.clientId, { client_secret: secret, [client.clockSkew]: skew }, client.ClientSecretBasic(secret));
    if (provider.allowInsecureHttp) client.allowInsecureRequests(skewed);
    client.enableNonRepudiationChecks(skewed);
    const keys = client.getJwksCache(config);
    if (keys) client.setJwksCache(skewed, keys);
    return skewed;
  }

  async #discover(provider: OidcProviderConfig): Promise<{ config: client.Configuration; secret: string }> {
    const secret = await this.#secret(provider.clientSecret);
    if (secret === null) {
      this.#logger.error({ provider: provider.name, secret: provider.clientSecret }, 'the OIDC client secret is not stored');
      throw new GatewayError('idp_unavailable');
    }
    try {
      const config = await client.discovery(new URL(provider.issuer), provider.clientId, { client_secret: secret }, client.ClientSecretBasic(secret), {
        timeout: providerTimeoutSeconds,
        execute: [client.enableNonRepudiationChecks, ...(provider.allowInsecureHttp ? [client.allowInsecureRequests] : [])],
      });
      return { config, secret };
    } catch (error) {
      // The message names what failed (an address, a status), never a secret: openid-client's errors hold none.
      this.#logger.warn({ provider: provider.name, err: { message: error instanceof Error ? error.message : String(error) } }, 'OIDC discovery failed');
      throw new GatewayError('idp_unavailable', { cause: error });
    }
  }
}
