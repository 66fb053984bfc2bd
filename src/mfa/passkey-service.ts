import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { UserRecord, UserStore } from '../accounts/user-store.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../security/clock.js';
import { safeEqual } from '../security/hash.js';
import type { RandomBytes } from '../security/random.js';
import type { ChallengePurpose, MfaStore, PasskeyRecord } from './mfa-store.js';
import { hasSecondFactor } from './totp-service.js';

/** Issue 4: a challenge is single-use and expires after 5 minutes; the browser is told the same. */
export const challengeTtlMs = 5 * 60_000;
/** SPEC §4.5: a user has at most 10 passkeys; another registration answers 409 too_many_passkeys. */
export const maxPasskeysPerUser = 10;
/** 256-bit challenges (WebAuthn §13.4.3 asks for at least 16 random bytes). */
const challengeBytes = 32;
/** Unpadded base64url of 32 bytes: the shape of every challenge this service issues. */
const challengePattern = /^[A-Za-z0-9_-]{43}$/;
/** WebAuthn §7.1: a credential id is at most 1023 bytes (1364 base64url characters). */
const maxCredentialIdLength = 1364;
const maxNameLength = 64;
/** AuthenticatorTransport values (WebAuthn §5.8.4): anything else a client sends is dropped. */
const knownTransports = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

export interface PasskeyServiceDeps {
  store: MfaStore;
  users: UserStore;
  clock: Clock;
  random: RandomBytes;
  /** `server.publicOrigin`: the origin is checked exactly, the relying-party id is its host. */
  publicOrigin: string;
  /** What the browser shows as the site (e.g. `mfa.issuer`). */
  rpName: string;
  audit: AuditLog;
}

/**
 * Passkeys (WebAuthn Level 3 with @simplewebauthn/server): registration for a logged-in user and
 * passwordless login, which counts as both factors (possession of the key plus user verification).
 *
 * Every ceremony uses a challenge stored for single use and bound to its purpose and user; user
 * verification is required; the origin and RP id are fixed from `server.publicOrigin`; the
 * signature counter must grow (§6.1.1) and is advanced with a compare-and-set, so two processes
 * cannot both accept the same assertion.
 *
 * Bad client input gives null, never an exception; an exception means the store failed.
 */
export class PasskeyService {
  /** False when `server.publicOrigin` is an IP address: an RP ID must be a valid domain string (WebAuthn §4, "RP ID"). */
  readonly enabled: boolean;
  readonly rpId: string;
  readonly origin: string;
  readonly #store: MfaStore;
  readonly #users: UserStore;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #rpName: string;
  readonly #audit: AuditLog;

  constructor(deps: PasskeyServiceDeps) {
    const url = new URL(deps.publicOrigin);
    // WHATWG URL parsing canonicalises IPv4 forms (127.1, 0x7f.0.0.1) and brackets IPv6.
    this.enabled = isIP(url.hostname.replace(/^\[(.*)\]$/, '$1')) === 0;
    this.rpId = url.hostname;
    this.origin = url.origin;
    this.#store = deps.store;
    this.#users = deps.users;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#rpName = deps.rpName;
    this.#audit = deps.audit;
  }

  /**
   * Options for `navigator.credentials.create()`. Resident (discoverable) keys are required, not
   * merely preferred: login options never list credentials (see authenticationOptions), so a
   * non-discoverable credential could never be used to log in.
   *
   * A user who already has the most passkeys allowed gets no ceremony (the authenticator would make
   * a key only to see it refused); verifyRegistration's check is the one that holds under races.
   */
  async registrationOptions(user: UserRecord): Promise<PublicKeyCredentialCreationOptionsJSON | 'too_many_passkeys'> {
    this.#assertEnabled();
    const existing = await this.#store.listPasskeys(user.name);
    if (existing.length >= maxPasskeysPerUser) return 'too_many_passkeys';
    const options = await generateRegistrationOptions({
      rpName: this.#rpName,
      rpID: this.rpId,
      userName: user.name,
      userDisplayName: user.name,
      userID: userHandleOf(user.name),
      challenge: this.#newChallenge(),
      timeout: challengeTtlMs,
      attestationType: 'none',
      excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
    await this.#putChallenge(options.challenge, 'register', user.name);
    return options;
  }

  /**
   * Verifies `credential.toJSON()` of a registration and stores the passkey; null if anything is
   * wrong, 'too_many_passkeys' when the user has the most allowed (decided atomically by the store).
   */
  async verifyRegistration(
    user: UserRecord,
    response: RegistrationResponseJSON,
    name?: string,
    context: AuditContext = {},
  ): Promise<PasskeyRecord | 'too_many_passkeys' | null> {
    if (!this.enabled) return null;
    const challenge = challengeOf(response);
    if (challenge === null) return null;
    // Taken before anything else can fail: a challenge is spent by any attempt, good or bad.
    const issued = await this.#store.takeChallenge(challenge, this.#clock.now());
    if (!issued || issued.purpose !== 'register' || issued.userName !== user.name) return null;
    const current = await this.#users.get(user.name);
    if (!current || current.locked) return null;

    let credential;
    try {
      const result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpId,
        requireUserPresence: true,
        requireUserVerification: true,
      });
      if (!result.verified || !result.registrationInfo.userVerified) return null;
      credential = result.registrationInfo.credential;
    } catch {
      // The library throws on malformed or mismatching input; its messages echo client data, so
      // none of it is passed on.
      return null;
    }
    if (credential.id.length === 0 || credential.id.length > maxCredentialIdLength) return null;
    // WebAuthn §7.1: a credential id already registered, to anyone, is refused.
    if (await this.#store.getPasskey(credential.id)) return null;

    const existing = await this.#store.listPasskeys(user.name);
    const record: PasskeyRecord = {
      id: credential.id,
      userName: user.name,
      name: passkeyName(name, existing.map((passkey) => passkey.name)),
      publicKey: Buffer.from(credential.publicKey),
      counter: credential.counter,
      transports: cleanTransports(credential.transports),
      createdAt: this.#clock.now(),
      lastUsedAt: null,
    };
    if (!(await this.#store.addPasskey(record, maxPasskeysPerUser))) return 'too_many_passkeys';
    await this.#users.update(user.name, { mfaEnabled: true });
    await this.#audit.record('passkey_registered', about(user.name, context), { passkey: record.id });
    return record;
  }

  /**
   * Options for `navigator.credentials.get()`. allowCredentials is always empty, whatever name was
   * given: listing a user's credential ids would tell anyone which names exist and have passkeys
   * (WebAuthn §14.6.3), so the browser offers the discoverable credentials it holds for this RP.
   * A given name is bound to the challenge: the passkey used must then belong to that user.
   */
  async authenticationOptions(userName?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    this.#assertEnabled();
    const options = await generateAuthenticationOptions({
      rpID: this.rpId,
      challenge: this.#newChallenge(),
      timeout: challengeTtlMs,
      userVerification: 'required',
    });
    // Names are at most 64 characters, so cutting at 65 bounds what is stored and still matches no one.
    await this.#putChallenge(options.challenge, 'login', typeof userName === 'string' ? userName.slice(0, maxNameLength + 1) : null);
    return options;
  }

  /** Verifies `credential.toJSON()` of a login; the user it proves, or null. */
  async verifyAuthentication(response: AuthenticationResponseJSON, context: AuditContext = {}): Promise<{ userName: string } | null> {
    if (!this.enabled) return null;
    const challenge = challengeOf(response);
    if (challenge === null) return null;
    const issued = await this.#store.takeChallenge(challenge, this.#clock.now());
    if (!issued || issued.purpose !== 'login') return null;
    const id = credentialIdOf(response);
    if (id === null) return null;
    const passkey = await this.#store.getPasskey(id);
    if (!passkey) return null;

    const fail = async (reason: string): Promise<null> => {
      await this.#audit.record('mfa_failed', about(passkey.userName, context), { method: 'passkey', passkey: passkey.id, reason });
      return null;
    };
    // WebAuthn §7.2: a user named before the ceremony must own the credential, and the user handle the
    // authenticator returns must be the owner's.
    if (issued.userName !== null && issued.userName !== passkey.userName) return fail('other_user');
    const userHandle = response.response.userHandle;
    if (typeof userHandle === 'string' && userHandle !== '' && !safeEqual(userHandle, Buffer.from(userHandleOf(passkey.userName)).toString('base64url'))) {
      return fail('user_handle');
    }

    let newCounter: number;
    try {
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpId,
        credential: { id: passkey.id, publicKey: new Uint8Array(passkey.publicKey), counter: passkey.counter, transports: passkey.transports },
        requireUserVerification: true,
      });
      if (!result.verified || !result.authenticationInfo.userVerified) return fail('signature');
      // The library refuses a counter that does not grow when either value is non-zero (§6.1.1);
      // a refusal may mean a cloned authenticator.
      newCounter = result.authenticationInfo.newCounter;
    } catch {
      return fail('verification');
    }

    const user = await this.#users.get(passkey.userName);
    if (!user) return fail('no_user');
    if (user.locked) return fail('locked');
    // Compare-and-set: of two concurrent logins with the same assertion (or a clone's), one wins.
    if (!(await this.#store.recordPasskeyUse(passkey.id, passkey.counter, newCounter, this.#clock.now()))) return fail('counter');
    // Success is audited by the caller as login_succeeded; failures here carry the reason it cannot see.
    return { userName: user.name };
  }

  /** The user's passkeys. Public keys are not secret, but only id, name and times belong in a response. */
  async list(userName: string): Promise<PasskeyRecord[]> {
    return this.#store.listPasskeys(userName);
  }

  /**
   * Deletes the challenges expired by now, used or not (housekeeping). They are useless once
   * expired, but only this removes those of ceremonies nobody finished.
   */
  async purgeExpiredChallenges(): Promise<number> {
    return this.#store.purgeChallenges(this.#clock.now());
  }

  /** Removes one of the user's passkeys; false when they have none with this id (404). */
  async remove(userName: string, id: string, actor: AuditContext = {}): Promise<boolean> {
    if (!(await this.#store.removePasskey(userName, id))) return false;
    await this.#users.update(userName, { mfaEnabled: await hasSecondFactor(this.#store, userName) });
    await this.#audit.record('passkey_removed', about(userName, actor), { passkey: id, by: actor.user ?? null });
    return true;
  }

  #assertEnabled(): void {
    if (!this.enabled) throw new Error('passkeys are off: server.publicOrigin is an IP address, and a WebAuthn relying-party id must be a host name');
  }

  #newChallenge(): Uint8Array<ArrayBuffer> {
    const bytes = this.#random(challengeBytes);
    if (bytes.length !== challengeBytes) throw new Error(`the random source returned ${bytes.length} bytes instead of ${challengeBytes}`);
    return Uint8Array.from(bytes);
  }

  async #putChallenge(challenge: string, purpose: ChallengePurpose, userName: string | null): Promise<void> {
    await this.#store.putChallenge({ challenge, purpose, userName, expiresAt: this.#clock.now() + challengeTtlMs });
  }
}

/**
 * The WebAuthn user handle: SHA-256 of the user name, domain-separated. It must not be personal
 * data (§14.6.1); a hash of the name is not the name, but anyone holding the authenticator and
 * guessing the name could confirm the guess. The authenticator stores `user.name` in clear anyway,
 * so this reveals nothing more, and it needs no column in the store. A removed and re-created user
 * gets the same handle, which is harmless: removal deletes the passkeys, and login looks credentials
 * up by id in the store.
 */
export function userHandleOf(userName: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(createHash('sha256').update('gatehouse webauthn user handle\0').update(userName, 'utf8').digest());
}

/**
 * The challenge the client signed, read from clientDataJSON so it can be taken from the store before
 * verification. Null for anything that is not one of ours in shape.
 */
function challengeOf(response: unknown): string | null {
  if (!isRecord(response) || !isRecord(response.response)) return null;
  const clientDataJSON = response.response.clientDataJSON;
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 8192 || !/^[A-Za-z0-9_-]+={0,2}$/.test(clientDataJSON)) return null;
  let clientData: unknown;
  try {
    clientData = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isRecord(clientData)) return null;
  // A ceremony run inside a cross-origin frame is never ours: Gatehouse's pages refuse framing.
  // WebAuthn L3 §7.1 step 13 leaves topOrigin to the relying party; the library checks it only at
  // login, so it is refused here for both ceremonies.
  if (clientData.crossOrigin === true || clientData.topOrigin !== undefined) return null;
  const challenge = clientData.challenge;
  return typeof challenge === 'string' && challengePattern.test(challenge) ? challenge : null;
}

function credentialIdOf(response: unknown): string | null {
  if (!isRecord(response)) return null;
  const id = response.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > maxCredentialIdLength || !/^[A-Za-z0-9_-]+$/.test(id)) return null;
  return id;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The user's label, at most 64 characters, with control and format characters removed (so no line
 * breaks in logs and no bidi overrides that make one name display as another). Empty or absent:
 * "Passkey N" with the first N not already taken.
 */
export function passkeyName(input: unknown, taken: readonly string[]): string {
  if (typeof input === 'string') {
    const cleaned = input.slice(0, 4 * maxNameLength).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '').trim();
    const name = [...cleaned].slice(0, maxNameLength).join('').trim();
    if (name !== '') return name;
  }
  for (let n = taken.length + 1; ; n += 1) {
    const name = `Passkey ${n}`;
    if (!taken.includes(name)) return name;
  }
}

function cleanTransports(transports: readonly string[] | undefined): string[] {
  return [...new Set((transports ?? []).filter((transport) => knownTransports.has(transport)))];
}

function about(userName: string, context: AuditContext): AuditContext {
  return { ip: context.ip ?? null, requestId: context.requestId ?? null, user: userName };
}
