import type { Announce } from '../cluster/announcer.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../security/clock.js';
import type { RandomBytes } from '../security/random.js';
import type { MetaStore } from '../storage/store.js';
import { open, seal, SealError, sealedKeyId } from './envelope.js';
import { MasterKeyError, type Keyring } from './keyring.js';
import type { SecretStore } from './secret-store.js';
import { masterKeyCheckKey, metaAad, secretAad } from './sealed-values.js';
import { namePattern } from '../config/schema.js';

/** A refused secret operation; the message never contains the value. */
export class SecretError extends Error {
  readonly code: 'invalid_name' | 'empty_value';

  constructor(code: SecretError['code'], message: string) {
    super(message);
    this.name = 'SecretError';
    this.code = code;
  }
}

const checkKey = masterKeyCheckKey;
const checkAad = metaAad(checkKey);
const checkPlaintext = 'gatehouse master key check';

/** Secrets encrypted at rest under the master key (SPEC §2 `gatehouse secret …`). */
export class SecretService {
  readonly #store: SecretStore;
  readonly #meta: MetaStore;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #audit: AuditLog;

  /** Tells running gateways to re-read their secrets at once (their polling is the backstop). */
  readonly #announce: Announce;

  constructor(deps: { store: SecretStore; meta: MetaStore; keyring: Keyring; clock: Clock; random: RandomBytes; audit: AuditLog; announce?: Announce }) {
    this.#announce = deps.announce ?? (async () => undefined);
    this.#store = deps.store;
    this.#meta = deps.meta;
    this.#keyring = deps.keyring;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#audit = deps.audit;
  }

  /**
   * Refuses to run with a master key other than the one the store was created with, before any
   * secret is read or written: otherwise a typo in `masterKey` would surface only as failing
   * upstream calls, and new secrets would be sealed under a key that cannot open the old ones.
   * The first process to open a fresh store records a sealed check value (first writer wins).
   */
  async verifyMasterKey(): Promise<void> {
    const candidate = seal(this.#keyring, checkAad, checkPlaintext, this.#random);
    const stored = await this.#meta.putIfAbsent(checkKey, candidate);
    let opened: string;
    try {
      opened = open(this.#keyring, checkAad, stored).toString('utf8');
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      throw new MasterKeyError(mismatchMessage(stored, this.#keyring));
    }
    if (opened !== checkPlaintext) throw new MasterKeyError(mismatchMessage(stored, this.#keyring));
  }

  /** Stores (or replaces) a secret, sealed. Audited by name only. */
  async set(name: string, value: string, actor: AuditContext): Promise<void> {
    assertSecretName(name);
    if (value.length === 0) throw new SecretError('empty_value', 'a secret value may not be empty');
    const sealed = seal(this.#keyring, secretAad(name), value, this.#random);
    await this.#store.put({ name, sealed, updatedAt: this.#clock.now() });
    await this.#audit.record('secret_set', { user: null, ip: actor.ip ?? null, requestId: actor.requestId ?? null }, { name, by: actor.user ?? null });
    await this.#announce({ type: 'changed', what: 'secrets' });
  }

  /** The secret's value, or null when there is none. Throws SealError if it was tampered with. */
  async reveal(name: string): Promise<string | null> {
    const record = await this.#store.get(name);
    if (!record) return null;
    return open(this.#keyring, secretAad(name), record.sealed).toString('utf8');
  }

  /** Names and update times only, in name order: never values. */
  async list(): Promise<{ name: string; updatedAt: number }[]> {
    return (await this.#store.list()).map(({ name, updatedAt }) => ({ name, updatedAt }));
  }

  /** Deletes a secret; false when there was none. */
  async remove(name: string, actor: AuditContext): Promise<boolean> {
    const removed = await this.#store.remove(name);
    if (removed) {
      await this.#audit.record('secret_removed', { user: null, ip: actor.ip ?? null, requestId: actor.requestId ?? null }, { name, by: actor.user ?? null });
      await this.#announce({ type: 'changed', what: 'secrets' });
    }
    return removed;
  }
}

/**
 * The same rule as a `name` in the configuration (config/schema.ts), so every name an upstream's
 * `credential.secret` can refer to can be stored, and nothing else.
 */
function assertSecretName(name: string): void {
  // The name itself is not echoed: a value pasted where the name belongs must not reach a log.
  if (!namePattern.test(name)) {
    throw new SecretError('invalid_name', 'a secret name must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
}

function mismatchMessage(stored: string, keyring: Keyring): string {
  const configured = [...keyring.keys.keys()].join(', ');
  let storedId: string;
  try {
    storedId = sealedKeyId(stored);
  } catch {
    return `masterKey check value in the store is damaged; the store was altered (configured key ids: ${configured})`;
  }
  if (keyring.keys.has(storedId)) {
    return `masterKey check value in the store failed authentication under key id ${storedId}; the store was altered`;
  }
  return `masterKey does not match the key this store was created with (key id ${storedId}; configured: ${configured}); configure that key, or list it after a new one to rotate`;
}
