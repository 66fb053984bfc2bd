import type { Announce } from '../cluster/announcer.js';
import { createPrivateKey } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type CryptoKey } from 'jose';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../log/logger.js';
import { open, seal } from '../secrets/envelope.js';
import type { Keyring } from '../secrets/keyring.js';
import type { Clock } from '../security/clock.js';
import type { RandomBytes } from '../security/random.js';
import { signingKeyAad, type NewSigningKey, type SigningKeyRecord, type SigningKeyStore } from './signing-key-store.js';
import { errorFields } from '../log/error-fields.js';

/** JWS `alg` of every assertion: Ed25519 (RFC 8037 §3.1), the SPEC §7 choice of EdDSA. */
export const signingAlgorithm = 'EdDSA';

/** How long a replaced key stays published by default (SPEC §7). */
export const defaultGraceMs = 24 * 3_600_000;

/** How often a running gateway re-reads the keys: a rotation from the CLI is in use within this (SPEC §7: 5 s). */
export const defaultRefreshIntervalMs = 5_000;

/**
 * The shortest grace period accepted. After a rotation, a running gateway may still sign with the
 * old key until its next refresh (5 s), and what it signed is valid for 60 s more; anything shorter
 * would make verifiers refuse assertions that were honestly issued.
 */
export const minimumGraceMs = 2 * 60_000;

/** The key assertions are signed with now. `key` is a non-extractable Web Crypto key. */
export interface ActiveSigningKey {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** A published verification key (RFC 7517 §4, RFC 8037 §2). */
export interface PublicSigningJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: typeof signingAlgorithm;
  use: 'sig';
}

/** The JWK Set (RFC 7517 §5): the active key first, then keys in their grace period, newest first. */
export interface PublishedKeys {
  readonly keys: readonly PublicSigningJwk[];
  /** `{"keys":[…]}`, serialised once per change. */
  readonly body: string;
}

export interface Rotation {
  kid: string;
  /** The keys it replaced (normally one), published until `publishedUntil`. */
  retired: string[];
  publishedUntil: number;
}

/** A key read from the store and opened: its public half and, once it has been active here, its signing key. */
interface LoadedKey {
  sealed: string;
  jwk: PublicSigningJwk;
  signing: CryptoKey | null;
}

interface Ed25519PrivateJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d: string;
}

export interface SigningKeysDeps {
  store: SigningKeyStore;
  keyring: Keyring;
  clock: Clock;
  random: RandomBytes;
  audit: AuditLog;
  logger: Logger;
  /** Real milliseconds between refreshes once started; `defaultRefreshIntervalMs` unless a test says otherwise. */
  refreshIntervalMs?: number;
  /** Tells running gateways to re-read the keys at once (their refresh is the backstop). */
  announce?: Announce;
}

/**
 * Gatehouse's own signing keys (SPEC §7). `init` creates the first key on the first start and loads
 * the keys; afterwards everything the request path needs (`active`, `published`) is in memory and
 * synchronous, and `start` re-reads the store every few seconds so a rotation made by another
 * process takes effect. A failed refresh keeps the last keys loaded: a store hiccup must not stop
 * upstream traffic, and the keys it would have brought are at most a rotation behind.
 */
export class SigningKeys {
  readonly #store: SigningKeyStore;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #audit: AuditLog;
  readonly #logger: Logger;
  readonly #refreshIntervalMs: number;
  readonly #announce: Announce;
  #loaded = new Map<string, LoadedKey>();
  #active: ActiveSigningKey | null = null;
  #published: PublishedKeys | null = null;
  #queue: Promise<void> = Promise.resolve();
  /** Sealed values of retired keys already reported as unopenable, so the log says it once. */
  #unopenable = new Set<string>();
  #timer: NodeJS.Timeout | null = null;

  constructor(deps: SigningKeysDeps) {
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#audit = deps.audit;
    this.#logger = deps.logger;
    this.#refreshIntervalMs = deps.refreshIntervalMs ?? defaultRefreshIntervalMs;
    this.#announce = deps.announce ?? (async () => undefined);
  }

  /**
   * Creates the first key if the store has no active one, then loads the keys. Processes starting
   * at once each offer a key; the store keeps exactly one (`addFirst`), and every process loads it.
   */
  async init(): Promise<void> {
    const records = await this.#store.list();
    if (!records.some((r) => r.retiredAt === null)) {
      const key = await this.#newKey(this.#clock.now());
      if (await this.#store.addFirst(key)) this.#logger.info({ kid: key.kid }, 'created the first signing key for upstream assertions');
    }
    await this.refresh();
  }

  /** The key to sign with. Throws until `init` has run: a gateway never starts without one. */
  get active(): ActiveSigningKey {
    if (!this.#active) throw new Error('signing keys are not loaded; call init() first');
    return this.#active;
  }

  /** The public keys verifiers may see now. Throws until `init` has run. */
  get published(): PublishedKeys {
    if (!this.#published) throw new Error('signing keys are not loaded; call init() first');
    return this.#published;
  }

  /**
   * Re-reads the store: picks up a new active key, drops keys whose grace period ended (and purges
   * them from the store). Loads run one after another, each reading the store after it was asked
   * for, so an older read never overwrites a newer one and a caller sees its own writes.
   */
  refresh(): Promise<void> {
    const next = this.#queue.catch(() => undefined).then(() => this.#load());
    this.#queue = next;
    return next;
  }

  /** Refreshes every `refreshIntervalMs` until `stop`; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.#refreshFailed(error));
    }, this.#refreshIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * `gatehouse keys rotate`: a new active key, the current one retired and published for `grace`
   * (default 24 h) more. Running gateways sign with the new key from their next refresh.
   */
  async rotate(options: { grace?: number }, actor: AuditContext): Promise<Rotation> {
    const grace = options.grace ?? defaultGraceMs;
    if (!Number.isSafeInteger(grace) || grace < minimumGraceMs) throw new RangeError(`the grace period must be at least ${minimumGraceMs / 60_000} minutes`);
    const now = this.#clock.now();
    const key = await this.#newKey(now);
    const publishedUntil = now + grace;
    const retired = await this.#store.rotate(key, publishedUntil);
    await this.#audit.record('signing_key_rotated', { user: null, ip: actor.ip ?? null, requestId: actor.requestId ?? null }, {
      kid: key.kid,
      retired: retired.length > 0 ? retired.join(',') : null,
      publishedUntil: new Date(publishedUntil).toISOString(),
      by: actor.user ?? null,
    });
    await this.#announce({ type: 'changed', what: 'keys' });
    // A gateway rotating in-process signs with the new key at once; should this read fail, the
    // rotation itself stands and the periodic refresh picks it up.
    if (this.#active) await this.refresh().catch((error: unknown) => this.#refreshFailed(error));
    return { kid: key.kid, retired, publishedUntil };
  }

  #refreshFailed(error: unknown): void {
    this.#logger.error({ err: errorFields(error) }, 'could not refresh the signing keys; still signing with the last one loaded');
  }

  async #load(): Promise<void> {
    const now = this.#clock.now();
    const records = await this.#store.list();
    const current = records.filter((r) => r.retiredAt === null || (r.publishedUntil ?? 0) > now);
    const activeRecord = current.find((r) => r.retiredAt === null);
    if (!activeRecord) throw new Error('the store holds no active signing key');

    const loaded = new Map<string, LoadedKey>();
    for (const record of current) {
      const isActive = record === activeRecord;
      try {
        loaded.set(record.kid, await this.#opened(record, isActive));
      } catch (error) {
        // The active key must open; a retired one that does not (sealed under a master key no
        // longer configured, or altered) is left unpublished rather than stopping the gateway.
        if (isActive) throw error;
        if (this.#unopenable.has(record.sealedPrivateKey)) continue;
        this.#unopenable.add(record.sealedPrivateKey);
        this.#logger.error({ kid: record.kid, err: { message: error instanceof Error ? error.message : String(error) } }, 'a retired signing key cannot be opened; it is not published');
      }
    }

    const active = loaded.get(activeRecord.kid)!;
    const keys = [...loaded.values()].map((k) => k.jwk);
    if (this.#active?.kid !== activeRecord.kid) {
      if (this.#active) this.#logger.info({ kid: activeRecord.kid, previous: this.#active.kid }, 'signing assertions with a new key');
      this.#active = { kid: activeRecord.kid, key: active.signing! };
    }
    if (this.#published === null || !sameKids(this.#published.keys, keys)) this.#published = { keys, body: JSON.stringify({ keys }) };
    this.#loaded = loaded;

    if (current.length < records.length) await this.#store.purge(now);
  }

  /**
   * The stored key opened (which authenticates it: the aad binds the kid), with its signing key
   * imported if it is the active one. Reused from the last load while its sealed value is unchanged.
   * Re-sealed under a new master key it is opened again, but it is the same key (the kid is the
   * thumbprint of the public key, which Ed25519 derives from the private one), so a signing key
   * already imported is kept.
   */
  async #opened(record: SigningKeyRecord, isActive: boolean): Promise<LoadedKey> {
    const known = this.#loaded.get(record.kid);
    if (known && known.sealed === record.sealedPrivateKey && (known.signing !== null || !isActive)) return known;
    const privateJwk = parsePrivateJwk(open(this.#keyring, signingKeyAad(record.kid), record.sealedPrivateKey).toString('utf8'));
    const signing = known?.signing ?? (isActive ? await importJWK({ ...privateJwk, alg: signingAlgorithm }, signingAlgorithm, { extractable: false }) as CryptoKey : null);
    return {
      sealed: record.sealedPrivateKey,
      jwk: { kty: 'OKP', crv: 'Ed25519', x: privateJwk.x, kid: record.kid, alg: signingAlgorithm, use: 'sig' },
      signing,
    };
  }

  /** A fresh Ed25519 key from the injected randomness, sealed; kid = its RFC 7638 thumbprint. */
  async #newKey(now: number): Promise<NewSigningKey> {
    const privateJwk = generateEd25519(this.#random);
    const kid = await calculateJwkThumbprint({ kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x }, 'sha256');
    const sealedPrivateKey = seal(this.#keyring, signingKeyAad(kid), JSON.stringify(privateJwk), this.#random);
    return { kid, sealedPrivateKey, createdAt: now };
  }
}

/**
 * RFC 8410 §7: an Ed25519 private key in PKCS #8 is this fixed DER prefix followed by the 32-byte
 * seed (RFC 8032 §5.1.5), so the key comes from the injected randomness like every other secret.
 */
const ed25519Pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const seedBytes = 32;

function generateEd25519(random: RandomBytes): Ed25519PrivateJwk {
  const seed = random(seedBytes);
  if (seed.length !== seedBytes) throw new Error(`the random source returned ${seed.length} bytes instead of ${seedBytes}`);
  const der = Buffer.concat([ed25519Pkcs8Prefix, seed]);
  try {
    const jwk = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
    return { kty: 'OKP', crv: 'Ed25519', x: jwk.x!, d: jwk.d! };
  } finally {
    seed.fill(0);
    der.fill(0);
  }
}

function parsePrivateJwk(text: string): Ed25519PrivateJwk {
  const value = JSON.parse(text) as Partial<Ed25519PrivateJwk>;
  if (value.kty !== 'OKP' || value.crv !== 'Ed25519' || typeof value.x !== 'string' || typeof value.d !== 'string') {
    // Never echoes the value: it is key material.
    throw new Error('a stored signing key is not an Ed25519 private JWK');
  }
  return { kty: 'OKP', crv: 'Ed25519', x: value.x, d: value.d };
}

function sameKids(a: readonly PublicSigningJwk[], b: readonly PublicSigningJwk[]): boolean {
  return a.length === b.length && a.every((k, i) => k.kid === b[i]!.kid);
}
