import type { UpstreamConfig } from '../config/schema.js';
import { referencedSecrets } from '../config/cross-check.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { SecretService } from '../secrets/secret-service.js';
import { compileCredential, type AttachedCredential } from './credential.js';
import { HeaderLeakCheck } from './leak-guard.js';
import { errorFields } from '../log/error-fields.js';

/** A credential ready for the hot path: attached as configured, its leak checks compiled. */
export type ReadyCredential = AttachedCredential & { readonly headerCheck: HeaderLeakCheck };

/**
 * The decrypted credentials of every upstream, kept in memory so no request pays for a decryption.
 * A secret replaced with `gatehouse secret set` while the gateway runs is picked up within
 * `refreshMs` (the store's update time is polled; only changed secrets are decrypted again).
 */
export class UpstreamCredentials {
  readonly #upstreams: readonly UpstreamConfig[];
  readonly #secrets: SecretService;
  readonly #logger: Logger;
  readonly #names: ReadonlySet<string>;
  readonly #values = new Map<string, { value: string; updatedAt: number }>();
  #compiled = new Map<string, ReadyCredential>();
  #timer: NodeJS.Timeout | null = null;

  constructor(config: GatewayConfig, secrets: SecretService, logger: Logger) {
    this.#upstreams = config.upstreams;
    this.#secrets = secrets;
    this.#logger = logger;
    this.#names = new Set(referencedSecrets(config).map((r) => r.name));
  }

  /** Loads every referenced secret; returns the names that are not stored. */
  async load(): Promise<string[]> {
    const stored = new Map((await this.#secrets.list()).map((s) => [s.name, s.updatedAt]));
    const missing: string[] = [];
    let changed = false;
    for (const name of this.#names) {
      const updatedAt = stored.get(name);
      if (updatedAt === undefined) {
        missing.push(name);
        changed = this.#values.delete(name) || changed;
        continue;
      }
      if (this.#values.get(name)?.updatedAt === updatedAt) continue;
      const value = await this.#secrets.reveal(name);
      if (value === null) {
        missing.push(name);
        continue;
      }
      this.#values.set(name, { value, updatedAt });
      changed = true;
    }
    if (changed || this.#compiled.size === 0) this.#compile();
    return missing;
  }

  /** The credential to attach for an upstream; null when its secret is not available. */
  get(upstream: string): ReadyCredential | null {
    return this.#compiled.get(upstream) ?? null;
  }

  startRefreshing(refreshMs = 5000): void {
    this.#timer = setInterval(() => {
      this.load().then((missing) => {
        if (missing.length > 0) this.#logger.warn({ secrets: missing }, 'secrets referenced by upstreams are not stored');
      }, (error: unknown) => {
        this.#logger.error({ err: errorFields(error) }, 'could not refresh upstream secrets');
      });
    }, refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #compile(): void {
    const values = { get: (name: string) => this.#values.get(name)?.value };
    const compiled = new Map<string, ReadyCredential>();
    for (const upstream of this.#upstreams) {
      const c = upstream.credential;
      const names = !c || c.type === 'user-token' ? [] : c.type === 'basic' ? [c.user, c.password] : [c.secret];
      if (names.some((n) => values.get(n) === undefined)) continue;
      try {
        const credential = compileCredential(upstream.credential, values);
        compiled.set(upstream.name, { ...credential, headerCheck: new HeaderLeakCheck(credential.leakPatterns) });
      } catch (error) {
        // e.g. a value with a line break cannot go into a header; the message names no value.
        this.#logger.error({ upstream: upstream.name, err: { message: error instanceof Error ? error.message : 'unusable secret' } }, 'the upstream credential cannot be used');
      }
    }
    this.#compiled = compiled;
  }
}
