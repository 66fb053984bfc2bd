import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { RandomBytes } from '../security/random.js';
import type { Store } from '../storage/store.js';
import { open, seal, SealError, sealedKeyId } from './envelope.js';
import type { Keyring } from './keyring.js';
import type { Resealable, SealedEntry } from './resealable.js';

/** A rotation that cannot be done, or did not finish. The message names stores, rows and key ids, never a value. */
export class MasterKeyRotationError extends Error {
  readonly code: 'single_key' | 'nothing_to_do' | 'unknown_key' | 'unopenable' | 'conflict' | 'still_old' | 'unsupported';

  constructor(code: MasterKeyRotationError['code'], message: string) {
    super(message);
    this.name = 'MasterKeyRotationError';
    this.code = code;
  }
}

/** A store part that keeps sealed values, with the name the report gives it. */
export interface SealedSource {
  name: string;
  store: Resealable;
}

export interface RotationReport {
  /** The id of the first (primary) master key, under which everything is now sealed. */
  keyId: string;
  /** Values re-sealed by this run. */
  resealed: number;
  /** Values found already under the primary key (sealed since it came first, or by an earlier run). */
  alreadyCurrent: number;
  bySource: { name: string; resealed: number; alreadyCurrent: number }[];
}

/**
 * Every part of the store that holds values sealed under the master key: THE one place to list a
 * new one. A part missing here would keep values under the old key, and removing that key
 * afterwards would lose them. The master-key check value comes last, so it moves to the new key
 * only once everything else has (SecretService.verifyMasterKey reads it).
 */
export function sealedSources(store: Store): SealedSource[] {
  return [
    { name: 'secrets', store: store.secrets },
    { name: 'signing keys', store: store.keys },
    { name: 'TOTP secrets', store: resealable(store.mfa, 'MFA store') },
    { name: 'OIDC session tokens', store: store.oidc },
    { name: 'master-key check', store: resealable(store.meta, 'meta store') },
  ];
}

/**
 * The MFA and meta ports do not declare Resealable (their adapters do), so this is checked when a
 * rotation starts: a backend without it stops the rotation instead of silently skipping its values.
 */
function resealable(part: object, what: string): Resealable {
  const candidate = part as Partial<Resealable>;
  if (typeof candidate.listSealed !== 'function' || typeof candidate.replaceSealed !== 'function') {
    throw new MasterKeyRotationError('unsupported', `the ${what} of this backend cannot be re-encrypted (it does not implement Resealable)`);
  }
  return candidate as Resealable;
}

/** How often one row is retried when a concurrent write replaces it under the rotation. */
const maxAttemptsPerRow = 5;
/** Walks over everything; a pass after the first re-seals only what a writer with the old key added. */
const maxPasses = 3;

type Outcome = 'resealed' | 'current' | 'gone';

/**
 * Master-key rotation (SPEC §7): re-seals every stored value under the keyring's first key. Each
 * value is opened with whichever configured key sealed it and replaced by compare-and-set, so a
 * running gateway (holding every configured key) reads either form at every moment, and a
 * concurrent write (a `secret set`, a TOTP enrolment) is never overwritten.
 */
export class MasterKeyRotation {
  readonly #keyring: Keyring;
  readonly #random: RandomBytes;
  readonly #audit: AuditLog;
  readonly #sources: readonly SealedSource[];

  constructor(deps: { keyring: Keyring; random: RandomBytes; audit: AuditLog; sources: readonly SealedSource[] }) {
    this.#keyring = deps.keyring;
    this.#random = deps.random;
    this.#audit = deps.audit;
    this.#sources = deps.sources;
  }

  async rotate(actor: AuditContext): Promise<RotationReport> {
    const primary = this.#keyring.primary.id;
    if (this.#keyring.keys.size < 2) {
      throw new MasterKeyRotationError('single_key', `masterKey lists one key (key id ${primary}); put a new key first and the current one after it, like [file:new.key, file:old.key], then run this again`);
    }
    const listed = await Promise.all(this.#sources.map(async (source) => ({ source, entries: await source.store.listSealed() })));
    // Before any write: a value under a key that is not configured (or not a sealed value at all)
    // would stop the walk halfway, and no gateway can read it either.
    let stale = 0;
    for (const { source, entries } of listed) {
      for (const entry of entries) {
        const keyId = this.#keyIdOf(source, entry);
        if (!this.#keyring.keys.has(keyId)) {
          throw new MasterKeyRotationError('unknown_key', `${describeRow(source, entry)} is sealed under key id ${keyId}, which masterKey does not list; add that key after the first one`);
        }
        if (keyId !== primary) stale += 1;
      }
    }
    if (stale === 0) {
      const total = listed.reduce((sum, { entries }) => sum + entries.length, 0);
      throw new MasterKeyRotationError('nothing_to_do', `nothing to re-encrypt: all ${total} sealed values are already under the first master key (key id ${primary}); to rotate, put the NEW key first in masterKey`);
    }

    const counts = new Map(this.#sources.map((source) => [source, { resealed: 0, alreadyCurrent: 0 }]));
    let pending = listed;
    for (let pass = 1; ; pass++) {
      for (const { source, entries } of pending) {
        const count = counts.get(source)!;
        for (const entry of entries) {
          const outcome = await this.#reseal(source, entry);
          if (outcome === 'resealed') count.resealed += 1;
          // A later pass only sees rows it re-seals; those already current were counted in the first.
          else if (outcome === 'current' && pass === 1) count.alreadyCurrent += 1;
          // Between rows the event loop runs, so a server sharing this process keeps answering.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      // What a process still sealing under the old key wrote meanwhile: the old key may only be
      // removed once nothing needs it.
      pending = (await Promise.all(this.#sources.map(async (source) => ({
        source,
        entries: (await source.store.listSealed()).filter((entry) => this.#keyIdOf(source, entry) !== primary),
      })))).filter(({ entries }) => entries.length > 0);
      if (pending.length === 0) break;
      if (pass === maxPasses) {
        const left = pending.reduce((sum, { entries }) => sum + entries.length, 0);
        throw new MasterKeyRotationError('still_old', `${left} values are still sealed under an older key after ${maxPasses} passes (first: ${describeRow(pending[0]!.source, pending[0]!.entries[0]!)}); is a process running with another key first in masterKey? Restart every gateway with the new key first, then run this again`);
      }
    }

    const bySource = this.#sources.map((source) => ({ name: source.name, ...counts.get(source)! }));
    const report: RotationReport = {
      keyId: primary,
      resealed: bySource.reduce((sum, s) => sum + s.resealed, 0),
      alreadyCurrent: bySource.reduce((sum, s) => sum + s.alreadyCurrent, 0),
      bySource,
    };
    await this.#audit.record('master_key_rotated', { user: null, ip: actor.ip ?? null, requestId: actor.requestId ?? null }, {
      keyId: primary, resealed: report.resealed, alreadyCurrent: report.alreadyCurrent, by: actor.user ?? null,
    });
    return report;
  }

  /** One row: open, seal under the primary, compare-and-set; on a lost race, re-read and retry. */
  async #reseal(source: SealedSource, first: SealedEntry): Promise<Outcome> {
    let entry = first;
    for (let attempt = 1; ; attempt++) {
      if (this.#keyIdOf(source, entry) === this.#keyring.primary.id) return 'current';
      let plaintext: Buffer;
      try {
        plaintext = open(this.#keyring, entry.aad, entry.sealed);
      } catch (error) {
        if (!(error instanceof SealError)) throw error;
        throw new MasterKeyRotationError('unopenable', `${describeRow(source, entry)} cannot be opened (${error.message}); nothing after it was re-encrypted`);
      }
      const next = seal(this.#keyring, entry.aad, plaintext, this.#random);
      plaintext.fill(0);
      if (await source.store.replaceSealed(entry.id, entry.sealed, next)) return 'resealed';
      if (attempt === maxAttemptsPerRow) {
        throw new MasterKeyRotationError('conflict', `${describeRow(source, entry)} kept changing during the rotation (${maxAttemptsPerRow} attempts); run this again`);
      }
      const fresh = (await source.store.listSealed()).find((e) => e.id === entry.id);
      if (!fresh) return 'gone';
      entry = fresh;
    }
  }

  #keyIdOf(source: SealedSource, entry: SealedEntry): string {
    try {
      return sealedKeyId(entry.sealed);
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      throw new MasterKeyRotationError('unopenable', `${describeRow(source, entry)} is not a sealed value this Gatehouse knows; the store was altered`);
    }
  }
}

/** e.g. `secrets "weather-token"`: names of rows are not secret (they appear in audit events too). */
function describeRow(source: SealedSource, entry: SealedEntry): string {
  return `${source.name} "${entry.id}"`;
}
