/**
 * TEST ONLY: a software WebAuthn authenticator and client in one, so the passkey ceremonies can be
 * run end to end without a browser. It produces what `credential.toJSON()` returns in a browser
 * (WebAuthn Level 3 RegistrationResponseJSON / AuthenticationResponseJSON), with an ES256
 * key (COSE alg -7), "none" attestation, and knobs to make each part wrong on purpose.
 *
 * Layouts follow WebAuthn §6.1 (authenticator data), §6.5.1 (attested credential data), §8.7
 * ("none" attestation) and RFC 9053 §7.1.1 (COSE EC2 key).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/** Authenticator data flags (WebAuthn §6.1). */
const flagUserPresent = 0x01;
const flagUserVerified = 0x04;
const flagAttestedCredentialData = 0x40;

/** What to do differently from an honest authenticator in one ceremony. */
export interface CeremonyKnobs {
  /** clientDataJSON.origin; default the origin the authenticator was made for. */
  origin?: string;
  /** The RP id hashed into authenticator data; default the one in the options. */
  rpId?: string;
  /** The UV flag; default true. */
  userVerified?: boolean;
  /** The UP flag; default true. */
  userPresent?: boolean;
  /** The signature counter; default 0 at registration, then the credential's last value + 1. */
  counter?: number;
  /** clientDataJSON.challenge; default the one in the options. */
  challenge?: string;
}

export interface RegistrationKnobs extends CeremonyKnobs {
  /** Use this credential id instead of a fresh random one. */
  credentialId?: string;
}

export interface AuthenticationKnobs extends CeremonyKnobs {
  /** Which credential to assert with; default the first allowed one, else the first for the RP id. */
  credentialId?: string;
  /** The user handle returned; default the one stored at registration. */
  userHandle?: string;
}

interface SoftCredential {
  id: string;
  rpId: string;
  userHandle: string;
  privateKey: KeyObject;
  counter: number;
}

export class SoftAuthenticator {
  readonly #origin: string;
  readonly #credentials: SoftCredential[] = [];

  /** `origin` is the page the browser would be on. */
  constructor(options: { origin: string }) {
    this.#origin = options.origin;
  }

  get credentialIds(): string[] {
    return this.#credentials.map((credential) => credential.id);
  }

  /** navigator.credentials.create() + toJSON(). Throws, as a browser would, for an excluded credential. */
  register(options: PublicKeyCredentialCreationOptionsJSON, knobs: RegistrationKnobs = {}): RegistrationResponseJSON {
    const rpId = knobs.rpId ?? options.rp.id;
    if (rpId === undefined) throw new Error('soft authenticator: the options carry no rp.id');
    const excluded = new Set((options.excludeCredentials ?? []).map((credential) => credential.id));
    if (this.#credentials.some((credential) => excluded.has(credential.id))) {
      throw new Error('InvalidStateError: the authenticator already holds an excluded credential');
    }
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = knobs.credentialId ?? randomBytes(16).toString('base64url');
    const counter = knobs.counter ?? 0;
    const credential: SoftCredential = { id, rpId, userHandle: options.user.id, privateKey, counter };

    const credentialId = Buffer.from(id, 'base64url');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(credentialId.length);
    const attestedCredentialData = Buffer.concat([Buffer.alloc(16) /* AAGUID: none */, length, credentialId, coseKeyOf(publicKey)]);
    const authenticatorData = authenticatorDataOf(rpId, flagsOf(knobs) | flagAttestedCredentialData, counter, attestedCredentialData);
    const attestationObject = encodeCBOR(new Map<string, CBORType>([
      ['fmt', 'none'],
      ['attStmt', new Map<string, CBORType>()],
      ['authData', authenticatorData],
    ]));
    this.#credentials.push(credential);
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: this.#clientData('webauthn.create', knobs.challenge ?? options.challenge, knobs.origin),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        authenticatorData: authenticatorData.toString('base64url'),
        transports: ['internal', 'hybrid'],
        publicKeyAlgorithm: -7,
        publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64url'),
      },
      clientExtensionResults: { credProps: { rk: true } },
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get() + toJSON(). */
  authenticate(options: PublicKeyCredentialRequestOptionsJSON, knobs: AuthenticationKnobs = {}): AuthenticationResponseJSON {
    const allowed = new Set((options.allowCredentials ?? []).map((credential) => credential.id));
    const credential = this.#credentials.find((candidate) =>
      knobs.credentialId !== undefined ? candidate.id === knobs.credentialId : allowed.size > 0 ? allowed.has(candidate.id) : candidate.rpId === options.rpId,
    );
    if (!credential) throw new Error('NotAllowedError: no credential of this authenticator matches');
    const rpId = knobs.rpId ?? options.rpId ?? credential.rpId;
    const counter = knobs.counter ?? credential.counter + 1;
    credential.counter = counter;
    const authenticatorData = authenticatorDataOf(rpId, flagsOf(knobs), counter);
    const clientDataJSON = this.#clientData('webauthn.get', knobs.challenge ?? options.challenge, knobs.origin);
    // §6.3.3: the signature covers authenticatorData || SHA-256(clientDataJSON); ES256 signatures are DER.
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(Buffer.from(clientDataJSON, 'base64url'))]), credential.privateKey);
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON,
        authenticatorData: authenticatorData.toString('base64url'),
        signature: signature.toString('base64url'),
        userHandle: knobs.userHandle ?? credential.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  #clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string | undefined): string {
    return Buffer.from(JSON.stringify({ type, challenge, origin: origin ?? this.#origin, crossOrigin: false }), 'utf8').toString('base64url');
  }
}

function flagsOf(knobs: CeremonyKnobs): number {
  return (knobs.userPresent === false ? 0 : flagUserPresent) | (knobs.userVerified === false ? 0 : flagUserVerified);
}

/** rpIdHash (32) | flags (1) | signCount (4, big-endian) | attestedCredentialData. */
function authenticatorDataOf(rpId: string, flags: number, counter: number, attestedCredentialData: Buffer = Buffer.alloc(0)): Buffer {
  const signCount = Buffer.alloc(4);
  signCount.writeUInt32BE(counter);
  return Buffer.concat([sha256(Buffer.from(rpId, 'utf8')), Buffer.from([flags]), signCount, attestedCredentialData]);
}

/** COSE_Key for a P-256 public key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y. */
function coseKeyOf(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) throw new Error('soft authenticator: not an EC public key');
  return encodeCBOR(new Map<number, CBORType>([
    [1, 2],
    [3, -7],
    [-1, 1],
    [-2, Buffer.from(jwk.x, 'base64url')],
    [-3, Buffer.from(jwk.y, 'base64url')],
  ]));
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
