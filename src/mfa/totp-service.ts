import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { UserStore } from '../accounts/user-store.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../security/clock.js';
import { totpAad } from '../secrets/sealed-values.js';
import type { RandomBytes } from '../security/random.js';
import { open, seal } from '../secrets/envelope.js';
import type { Keyring } from '../secrets/keyring.js';
import type { MfaStore } from './mfa-store.js';
import { hashRecoveryCode, issueRecoveryCodes } from './recovery-codes.js';

/**
 * The parameters every authenticator app supports: RFC 6238 defaults (HMAC-SHA1, 6 digits, 30 s).
 * Google Authenticator and others ignore `algorithm`/`digits`/`period` in the URL, so anything else
 * would silently produce wrong codes.
 */
const algorithm = 'SHA1';
const digits = 6;
const period = 30;
/** 160 bits: the HMAC-SHA1 output size, the key length RFC 4226 §4 R6 recommends. */
const secretBytes = 20;
/**
 * One step either side of now: RFC 6238 §5.2 recommends at most one backward step of tolerance; we
 * accept one forward as well for a phone clock that runs slightly ahead. Never more.
 */
const window = 1;

export interface TotpServiceDeps {
  store: MfaStore;
  users: UserStore;
  keyring: Keyring;
  clock: Clock;
  random: RandomBytes;
  /** `mfa.issuer`: the name authenticator apps show. */
  issuer: string;
  audit: AuditLog;
}

export interface TotpSetup {
  /** Base32, for typing into an app by hand. */
  secret: string;
  otpauthUrl: string;
  /** The otpauth URL as a QR code, an SVG document. */
  qrSvg: string;
}

/**
 * TOTP (RFC 6238) as a second factor, with recovery codes. The secret is stored sealed under the
 * master key with aad `totp:<userName>`, so a copied row does not open for another user. Every
 * accepted code's time step is consumed atomically in the store: a code works once, and no older
 * one works after it, across every gateway process sharing the store (RFC 6238 §5.2).
 *
 * Attempt counting and throttling belong to the caller (the pending session ends after 5 failures;
 * SPEC §4.5, §5): a 6-digit code must never be guessable at request rate.
 */
export class TotpService {
  readonly #store: MfaStore;
  readonly #users: UserStore;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #issuer: string;
  readonly #audit: AuditLog;

  constructor(deps: TotpServiceDeps) {
    this.#store = deps.store;
    this.#users = deps.users;
    this.#keyring = deps.keyring;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#issuer = deps.issuer;
    this.#audit = deps.audit;
  }

  /**
   * Starts (or restarts) an enrolment: a new secret, pending until `confirm`. A confirmed enrolment
   * is never replaced here; it must be disabled first (with the password, by the caller).
   */
  async setup(userName: string): Promise<TotpSetup | 'already_enabled'> {
    const existing = await this.#store.getTotp(userName);
    if (existing?.confirmedAt != null) return 'already_enabled';
    const bytes = this.#random(secretBytes);
    if (bytes.length !== secretBytes) throw new Error(`the random source returned ${bytes.length} bytes instead of ${secretBytes}`);
    const secret = new Secret({ buffer: Uint8Array.from(bytes).buffer });
    const stored = await this.#store.putPendingTotp({
      userName,
      sealedSecret: seal(this.#keyring, totpAad(userName), secret.base32, this.#random),
      confirmedAt: null,
      createdAt: this.#clock.now(),
    });
    if (!stored) return 'already_enabled';
    const otpauthUrl = this.#totp(userName, secret).toString();
    // Error correction M (15 %) and a one-module quiet zone: what phone cameras read reliably at the
    // size a setup page shows. The library builds the SVG from path data only (no script, no text).
    const qrSvg = await QRCode.toString(otpauthUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
    return { secret: secret.base32, otpauthUrl, qrSvg };
  }

  /**
   * Completes a pending enrolment with a code from the app, and returns the recovery codes, shown
   * once. The code's step is consumed, so the code that confirmed cannot be replayed at the next
   * login. Confirming first decides between concurrent confirmations (one wins); the store only
   * records steps of a confirmed enrolment.
   */
  async confirm(userName: string, code: string, context: AuditContext = {}): Promise<{ recoveryCodes: string[] } | 'invalid_code'> {
    if (!isSixDigits(code)) return 'invalid_code';
    const record = await this.#store.getTotp(userName);
    if (!record || record.confirmedAt !== null) return 'invalid_code';
    const step = this.#matchingStep(userName, record.sealedSecret, code);
    if (step === null) return 'invalid_code';
    if (!(await this.#store.confirmTotp(userName, this.#clock.now(), record.sealedSecret))) return 'invalid_code';
    // False only if a login consumed this very step in between: the code is spent either way.
    await this.#store.useTotpStep(userName, step);
    const { codes: recoveryCodes, hashes } = issueRecoveryCodes(this.#random);
    await this.#store.replaceRecoveryCodes(userName, hashes);
    await this.#users.update(userName, { mfaEnabled: true });
    await this.#audit.record('mfa_enrolled', about(userName, context), { method: 'totp' });
    return { recoveryCodes };
  }

  /** Whether the user has a confirmed TOTP enrolment: a password login then needs a code. */
  async isEnrolled(userName: string): Promise<boolean> {
    return (await this.#store.getTotp(userName))?.confirmedAt != null;
  }

  /**
   * Checks a code against the confirmed enrolment and consumes its step: true at most once per
   * step. Not audited here: the caller records mfa_verified / mfa_failed with the attempt count.
   */
  async verify(userName: string, code: string): Promise<boolean> {
    // Malformed input costs no store read and no HMAC.
    if (!isSixDigits(code)) return false;
    const record = await this.#store.getTotp(userName);
    if (!record || record.confirmedAt === null) return false;
    const step = this.#matchingStep(userName, record.sealedSecret, code);
    if (step === null) return false;
    // Atomic in the store: refuses this step if it or a later one was accepted before (a replay).
    return this.#store.useTotpStep(userName, step);
  }

  /**
   * Consumes one recovery code: true exactly once per code, whatever the concurrency. A use is
   * audited with how many remain (the caller records the verification itself).
   */
  async useRecoveryCode(userName: string, code: string, context: AuditContext = {}): Promise<boolean> {
    const hash = hashRecoveryCode(code);
    if (hash === null) return false;
    if (!(await this.#store.consumeRecoveryCode(userName, hash, this.#clock.now()))) return false;
    const remaining = await this.#store.countRecoveryCodes(userName);
    await this.#audit.record('recovery_code_used', about(userName, context), { remaining });
    return true;
  }

  /** Unused recovery codes left (for a "generate new ones soon" hint). */
  async remainingRecoveryCodes(userName: string): Promise<number> {
    return this.#store.countRecoveryCodes(userName);
  }

  /**
   * Removes TOTP and the recovery codes. The caller has checked the password (SPEC §4.5
   * `DELETE /auth/mfa/totp`). `mfaEnabled` stays true only while passkeys remain.
   */
  async disable(userName: string, actor: AuditContext): Promise<boolean> {
    const removed = await this.#store.removeTotp(userName);
    await this.#store.replaceRecoveryCodes(userName, []);
    await this.#users.update(userName, { mfaEnabled: await hasSecondFactor(this.#store, userName) });
    if (removed) await this.#audit.record('mfa_removed', about(userName, actor), { method: 'totp', by: actor.user ?? null });
    return removed;
  }

  /**
   * `gatehouse user mfa-reset`: TOTP, recovery codes and passkeys all go, `mfaEnabled` becomes false.
   * Ending the user's sessions is the caller's part.
   */
  async resetAll(userName: string, actor: AuditContext): Promise<void> {
    await this.#store.removeAll(userName);
    await this.#users.update(userName, { mfaEnabled: false });
    await this.#audit.record('mfa_removed', about(userName, actor), { method: 'all', by: actor.user ?? null });
  }

  /**
   * The time step whose code this is, if it is one of t-1, t or t+1; null otherwise. otpauth
   * compares in constant time (crypto.timingSafeEqual) and returns the offset of the matching step.
   */
  #matchingStep(userName: string, sealedSecret: string, code: string): number | null {
    // A secret that does not open (altered row, missing master key) is a failure, not a wrong code.
    const secret = Secret.fromBase32(open(this.#keyring, totpAad(userName), sealedSecret).toString('utf8'));
    const timestamp = this.#clock.now();
    const delta = TOTP.validate({ token: code, secret, algorithm, digits, period, timestamp, window });
    return delta === null ? null : TOTP.counter({ period, timestamp }) + delta;
  }

  #totp(userName: string, secret: Secret): TOTP {
    return new TOTP({ issuer: this.#issuer, label: userName, algorithm, digits, period, secret });
  }
}

/** Whether any second factor remains: a confirmed TOTP or at least one passkey. */
export async function hasSecondFactor(store: MfaStore, userName: string): Promise<boolean> {
  if ((await store.getTotp(userName))?.confirmedAt != null) return true;
  return (await store.listPasskeys(userName)).length > 0;
}

function isSixDigits(code: string): boolean {
  return typeof code === 'string' && code.length === digits && /^[0-9]{6}$/.test(code);
}

/**
 * Events name the account as `user`; who acted (the user themself, or an admin from the CLI) goes
 * into `detail.by` where it can differ, as in AccountService.
 */
function about(userName: string, context: AuditContext): AuditContext {
  return { ip: context.ip ?? null, requestId: context.requestId ?? null, user: userName };
}
