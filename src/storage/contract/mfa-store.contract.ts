import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { MfaStore } from '../../mfa/mfa-store.js';
import { race, racers, type ContractFactory, type ContractSubject } from './contract-subject.js';
import { challengeRecord, codeHash, passkeyRecord, totpRecord } from './fixtures.js';

/** The per-user passkey limit the cases pass where the limit is not what they test (SPEC §4.5: 10). */
const limit = 10;

/** A TOTP time step (RFC 6238: floor(unix seconds / 30)) of a plausible present. */
const step = 58_000_000;

/** The behaviour every MfaStore adapter must have (mfa/mfa-store.ts). */
export function describeMfaStoreContract(name: string, factory: ContractFactory<MfaStore>): void {
  describe(`${name}: MfaStore contract`, () => {
    let subject: ContractSubject<MfaStore>;
    let store: MfaStore;
    let peer: MfaStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    /** Alice with a confirmed TOTP enrolment. */
    const enrol = async (userName = 'alice'): Promise<void> => {
      expect(await store.putPendingTotp(totpRecord({ userName }))).toBe(true);
      expect(await store.confirmTotp(userName, 2_000)).toBe(true);
    };

    describe('TOTP', () => {
      test('putPendingTotp stores a pending enrolment, and getTotp returns every field from either connection', async () => {
        const record = totpRecord({ sealedSecret: 'sealed-1', createdAt: 1_234 });
        expect(await store.putPendingTotp(record)).toBe(true);
        expect(await store.getTotp('alice')).toEqual(record);
        expect(await peer.getTotp('alice')).toEqual(record);
      });

      test('getTotp of a user without an enrolment is null', async () => {
        expect(await store.getTotp('nobody')).toBeNull();
      });

      test('putPendingTotp replaces a pending enrolment', async () => {
        await store.putPendingTotp(totpRecord({ sealedSecret: 'first', createdAt: 1_000 }));
        expect(await peer.putPendingTotp(totpRecord({ sealedSecret: 'second', createdAt: 1_500 }))).toBe(true);
        expect(await store.getTotp('alice')).toEqual(totpRecord({ sealedSecret: 'second', createdAt: 1_500 }));
      });

      test('putPendingTotp takes only a pending record', async () => {
        await expect(store.putPendingTotp(totpRecord({ confirmedAt: 2_000 }))).rejects.toThrow(RangeError);
        expect(await store.getTotp('alice')).toBeNull();
      });

      test('confirmTotp confirms the pending enrolment once, keeping the secret', async () => {
        await store.putPendingTotp(totpRecord({ sealedSecret: 'kept' }));
        expect(await peer.confirmTotp('alice', 2_000)).toBe(true);
        expect(await store.getTotp('alice')).toEqual(totpRecord({ sealedSecret: 'kept', confirmedAt: 2_000 }));
        expect(await store.confirmTotp('alice', 3_000)).toBe(false);
        expect(await peer.getTotp('alice')).toMatchObject({ confirmedAt: 2_000 });
      });

      test('confirmTotp with a secret confirms only the enrolment that still holds it', async () => {
        await store.putPendingTotp(totpRecord({ userName: 'alice', sealedSecret: 'v1.first' }));
        await peer.putPendingTotp(totpRecord({ userName: 'alice', sealedSecret: 'v1.second' }));
        expect(await store.confirmTotp('alice', 2_000, 'v1.first')).toBe(false);
        expect((await store.getTotp('alice'))?.confirmedAt).toBeNull();
        expect(await store.confirmTotp('alice', 2_000, 'v1.second')).toBe(true);
        expect((await peer.getTotp('alice'))?.confirmedAt).toBe(2_000);
      });

      test('confirmTotp without an enrolment is false and creates nothing', async () => {
        expect(await store.confirmTotp('nobody', 2_000)).toBe(false);
        expect(await store.getTotp('nobody')).toBeNull();
      });

      test('putPendingTotp is refused over a confirmed enrolment, which stays as it was', async () => {
        await store.putPendingTotp(totpRecord({ sealedSecret: 'confirmed' }));
        await store.confirmTotp('alice', 2_000);
        await store.useTotpStep('alice', step);
        expect(await peer.putPendingTotp(totpRecord({ sealedSecret: 'attacker', createdAt: 9_000 }))).toBe(false);
        expect(await store.getTotp('alice')).toEqual(totpRecord({ sealedSecret: 'confirmed', confirmedAt: 2_000 }));
        // The step seen before is still remembered: the refused put reset nothing.
        expect(await store.useTotpStep('alice', step)).toBe(false);
      });

      test('useTotpStep accepts a step once, refuses it and any older step after, accepts a newer one', async () => {
        await enrol();
        expect(await store.useTotpStep('alice', step)).toBe(true);
        expect(await peer.useTotpStep('alice', step)).toBe(false);
        expect(await store.useTotpStep('alice', step)).toBe(false);
        expect(await peer.useTotpStep('alice', step - 1)).toBe(false);
        expect(await store.useTotpStep('alice', step + 1)).toBe(true);
        expect(await peer.useTotpStep('alice', step)).toBe(false);
        expect(await peer.useTotpStep('alice', step + 3)).toBe(true);
        expect(await store.useTotpStep('alice', step + 2)).toBe(false);
      });

      test('useTotpStep accepts step 0 as a first step', async () => {
        await enrol();
        expect(await store.useTotpStep('alice', 0)).toBe(true);
        expect(await store.useTotpStep('alice', 0)).toBe(false);
      });

      test('useTotpStep is refused before confirmation and records nothing then', async () => {
        expect(await store.useTotpStep('nobody', step)).toBe(false);
        await store.putPendingTotp(totpRecord());
        expect(await store.useTotpStep('alice', step)).toBe(false);
        expect(await store.useTotpStep('alice', step + 1)).toBe(false);
        await peer.confirmTotp('alice', 2_000);
        expect(await peer.useTotpStep('alice', step)).toBe(true);
      });

      test('steps are per user', async () => {
        await enrol('alice');
        await enrol('bob');
        expect(await store.useTotpStep('alice', step)).toBe(true);
        expect(await peer.useTotpStep('bob', step)).toBe(true);
        expect(await store.useTotpStep('bob', step)).toBe(false);
      });

      test('removeTotp removes once, only the TOTP, and a new enrolment starts afresh', async () => {
        await enrol();
        await store.useTotpStep('alice', step);
        await store.replaceRecoveryCodes('alice', [codeHash(1)]);
        await store.addPasskey(passkeyRecord(), limit);
        expect(await peer.removeTotp('alice')).toBe(true);
        expect(await store.getTotp('alice')).toBeNull();
        expect(await store.removeTotp('alice')).toBe(false);
        expect(await store.countRecoveryCodes('alice')).toBe(1);
        expect(await store.listPasskeys('alice')).toHaveLength(1);

        expect(await store.putPendingTotp(totpRecord({ sealedSecret: 'new' }))).toBe(true);
        expect(await store.getTotp('alice')).toMatchObject({ sealedSecret: 'new', confirmedAt: null });
        await store.confirmTotp('alice', 3_000);
        expect(await store.useTotpStep('alice', step)).toBe(true);
      });

      test(`${racers} concurrent uses of one step across both connections: exactly one is accepted`, async () => {
        await enrol();
        const results = await race(subject, (s) => s.useTotpStep('alice', step));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.useTotpStep('alice', step)).toBe(false);
      });

      test(`${racers} concurrent confirmations: exactly one confirms`, async () => {
        await store.putPendingTotp(totpRecord());
        const results = await race(subject, (s, i) => s.confirmTotp('alice', 2_000 + i));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.getTotp('alice')).toMatchObject({ confirmedAt: 2_000 + results.indexOf(true) });
      });

      test(`${racers} concurrent putPendingTotp over a confirmed enrolment: all refused`, async () => {
        await enrol();
        const results = await race(subject, (s, i) => s.putPendingTotp(totpRecord({ sealedSecret: `other-${i}` })));
        expect(results.some(Boolean)).toBe(false);
        expect(await peer.getTotp('alice')).toEqual(totpRecord({ confirmedAt: 2_000 }));
      });
    });

    describe('recovery codes', () => {
      test('replace stores unused codes; count is the unused ones, from either connection', async () => {
        expect(await store.countRecoveryCodes('alice')).toBe(0);
        await store.replaceRecoveryCodes('alice', [codeHash(1), codeHash(2), codeHash(3)]);
        expect(await peer.countRecoveryCodes('alice')).toBe(3);
        await peer.consumeRecoveryCode('alice', codeHash(2), 5_000);
        expect(await store.countRecoveryCodes('alice')).toBe(2);
      });

      test('a code is usable once, whichever connection asks', async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1), codeHash(2)]);
        expect(await peer.consumeRecoveryCode('alice', codeHash(1), 5_000)).toBe(true);
        expect(await store.consumeRecoveryCode('alice', codeHash(1), 5_001)).toBe(false);
        expect(await peer.consumeRecoveryCode('alice', codeHash(1), 5_002)).toBe(false);
        expect(await store.consumeRecoveryCode('alice', codeHash(2), 5_003)).toBe(true);
        expect(await store.countRecoveryCodes('alice')).toBe(0);
      });

      test('an unknown code, or another user\'s, is refused and consumes nothing', async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1)]);
        await store.replaceRecoveryCodes('bob', [codeHash(2)]);
        expect(await store.consumeRecoveryCode('alice', codeHash(9), 5_000)).toBe(false);
        expect(await store.consumeRecoveryCode('alice', codeHash(2), 5_000)).toBe(false);
        expect(await store.consumeRecoveryCode('nobody', codeHash(1), 5_000)).toBe(false);
        expect(await peer.countRecoveryCodes('alice')).toBe(1);
        expect(await peer.countRecoveryCodes('bob')).toBe(1);
      });

      test('codes are per user: the same hash for two users is two codes', async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1)]);
        await store.replaceRecoveryCodes('bob', [codeHash(1)]);
        expect(await store.consumeRecoveryCode('alice', codeHash(1), 5_000)).toBe(true);
        expect(await peer.consumeRecoveryCode('bob', codeHash(1), 5_000)).toBe(true);
      });

      test('replace discards every old code, used or not, and the new ones are all unused', async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1), codeHash(2), codeHash(3)]);
        await store.consumeRecoveryCode('alice', codeHash(1), 5_000);
        await peer.replaceRecoveryCodes('alice', [codeHash(1), codeHash(4)]);
        expect(await store.countRecoveryCodes('alice')).toBe(2);
        expect(await store.consumeRecoveryCode('alice', codeHash(2), 6_000)).toBe(false);
        expect(await store.consumeRecoveryCode('alice', codeHash(1), 6_000)).toBe(true);
        expect(await store.consumeRecoveryCode('alice', codeHash(4), 6_000)).toBe(true);
      });

      test('replace with no codes removes them all, and touches no other user', async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1)]);
        await store.replaceRecoveryCodes('bob', [codeHash(2)]);
        await peer.replaceRecoveryCodes('alice', []);
        expect(await store.countRecoveryCodes('alice')).toBe(0);
        expect(await store.consumeRecoveryCode('alice', codeHash(1), 5_000)).toBe(false);
        expect(await store.countRecoveryCodes('bob')).toBe(1);
      });

      test('replace refuses repeated hashes and keeps the old codes', async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1)]);
        await expect(store.replaceRecoveryCodes('alice', [codeHash(2), codeHash(2)])).rejects.toThrow(RangeError);
        expect(await store.countRecoveryCodes('alice')).toBe(1);
        expect(await store.consumeRecoveryCode('alice', codeHash(1), 5_000)).toBe(true);
      });

      test(`${racers} concurrent replacements across both connections leave exactly one of the sets, whole`, async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1_000), codeHash(1_001)]);
        await race(subject, (s, i) => s.replaceRecoveryCodes('alice', [codeHash(i * 10), codeHash(i * 10 + 1), codeHash(i * 10 + 2)]));
        expect(await peer.countRecoveryCodes('alice')).toBe(3);
        const usable = [];
        for (let i = 0; i < racers; i += 1) if (await store.consumeRecoveryCode('alice', codeHash(i * 10), 5_000)) usable.push(i);
        expect(usable).toHaveLength(1);
        expect(await store.consumeRecoveryCode('alice', codeHash(usable[0]! * 10 + 2), 5_000)).toBe(true);
        expect(await store.consumeRecoveryCode('alice', codeHash(1_000), 5_000)).toBe(false);
      });

      test(`${racers} concurrent uses of one code across both connections: exactly one succeeds`, async () => {
        await store.replaceRecoveryCodes('alice', [codeHash(1), codeHash(2)]);
        const results = await race(subject, (s, i) => s.consumeRecoveryCode('alice', codeHash(1), 5_000 + i));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await peer.countRecoveryCodes('alice')).toBe(1);
      });
    });

    describe('passkeys', () => {
      test('add then get from either connection returns every field, the key byte for byte', async () => {
        const passkey = passkeyRecord({ counter: 7, transports: ['internal', 'hybrid'], lastUsedAt: 1_500 });
        await store.addPasskey(passkey, limit);
        expect(await store.getPasskey(passkey.id)).toEqual(passkey);
        const seen = await peer.getPasskey(passkey.id);
        expect(seen).toEqual(passkey);
        expect(Buffer.isBuffer(seen?.publicKey)).toBe(true);
      });

      test('an empty transport list and a null last use round-trip', async () => {
        await store.addPasskey(passkeyRecord({ transports: [], lastUsedAt: null }), limit);
        expect(await peer.getPasskey(passkeyRecord().id)).toMatchObject({ transports: [], lastUsedAt: null });
      });

      test('get of an unknown id is null; list of a user without passkeys is empty', async () => {
        expect(await store.getPasskey('unknown')).toBeNull();
        expect(await store.listPasskeys('alice')).toEqual([]);
      });

      test('a credential id already registered is refused, whoever adds it, and the first is kept', async () => {
        const first = passkeyRecord({ userName: 'alice', name: 'first' });
        await store.addPasskey(first, limit);
        await expect(peer.addPasskey(passkeyRecord({ userName: 'mallory', name: 'stolen id', counter: 0 }), limit)).rejects.toThrow();
        expect(await store.getPasskey(first.id)).toEqual(first);
        expect(await store.listPasskeys('mallory')).toEqual([]);
      });

      test('list returns only that user\'s passkeys, oldest first', async () => {
        await store.addPasskey(passkeyRecord({ id: 'late', createdAt: 3_000 }), limit);
        await peer.addPasskey(passkeyRecord({ id: 'early', createdAt: 1_000 }), limit);
        await store.addPasskey(passkeyRecord({ id: 'bobs', userName: 'bob', createdAt: 2_000 }), limit);
        expect((await peer.listPasskeys('alice')).map((p) => p.id)).toEqual(['early', 'late']);
        expect((await store.listPasskeys('bob')).map((p) => p.id)).toEqual(['bobs']);
      });

      test('recordPasskeyUse sets the counter and last use when the counter is as expected, and changes nothing else', async () => {
        const passkey = passkeyRecord({ counter: 5 });
        await store.addPasskey(passkey, limit);
        expect(await peer.recordPasskeyUse(passkey.id, 5, 6, 7_000)).toBe(true);
        expect(await store.getPasskey(passkey.id)).toEqual({ ...passkey, counter: 6, lastUsedAt: 7_000 });
      });

      test('recordPasskeyUse with a stale counter is false and changes nothing', async () => {
        const passkey = passkeyRecord({ counter: 5 });
        await store.addPasskey(passkey, limit);
        await store.recordPasskeyUse(passkey.id, 5, 6, 7_000);
        expect(await peer.recordPasskeyUse(passkey.id, 5, 6, 8_000)).toBe(false);
        expect(await peer.recordPasskeyUse(passkey.id, 4, 9, 8_000)).toBe(false);
        expect(await store.getPasskey(passkey.id)).toMatchObject({ counter: 6, lastUsedAt: 7_000 });
        expect(await store.recordPasskeyUse('unknown', 0, 1, 8_000)).toBe(false);
      });

      test('an authenticator without a counter (always 0) records every use', async () => {
        await store.addPasskey(passkeyRecord({ counter: 0 }), limit);
        expect(await store.recordPasskeyUse(passkeyRecord().id, 0, 0, 7_000)).toBe(true);
        expect(await peer.recordPasskeyUse(passkeyRecord().id, 0, 0, 8_000)).toBe(true);
        expect(await store.getPasskey(passkeyRecord().id)).toMatchObject({ counter: 0, lastUsedAt: 8_000 });
      });

      test('removePasskey removes the user\'s own passkey once; another user\'s is refused and kept', async () => {
        await store.addPasskey(passkeyRecord({ id: 'mine' }), limit);
        await store.addPasskey(passkeyRecord({ id: 'bobs', userName: 'bob' }), limit);
        expect(await peer.removePasskey('alice', 'bobs')).toBe(false);
        expect(await store.getPasskey('bobs')).not.toBeNull();
        expect(await peer.removePasskey('alice', 'mine')).toBe(true);
        expect(await store.getPasskey('mine')).toBeNull();
        expect(await store.removePasskey('alice', 'mine')).toBe(false);
      });

      test('addPasskey stores up to the limit, per user; at the limit it answers false and stores nothing; a removal frees a slot', async () => {
        for (let i = 0; i < 3; i += 1) expect(await (i % 2 === 0 ? store : peer).addPasskey(passkeyRecord({ id: `key-${i}` }), 3)).toBe(true);
        expect(await peer.addPasskey(passkeyRecord({ id: 'one-too-many' }), 3)).toBe(false);
        expect(await store.getPasskey('one-too-many')).toBeNull();
        expect(await store.listPasskeys('alice')).toHaveLength(3);
        expect(await store.addPasskey(passkeyRecord({ id: 'bobs', userName: 'bob' }), 3)).toBe(true);
        expect(await peer.removePasskey('alice', 'key-1')).toBe(true);
        expect(await store.addPasskey(passkeyRecord({ id: 'one-too-many' }), 3)).toBe(true);
        expect((await peer.listPasskeys('alice')).map((p) => p.id).sort()).toEqual(['key-0', 'key-2', 'one-too-many']);
      });

      test(`${racers} concurrent additions for the last free slot across both connections: exactly one is stored`, async () => {
        for (let i = 0; i < limit - 1; i += 1) await store.addPasskey(passkeyRecord({ id: `key-${i}` }), limit);
        const results = await race(subject, (s, i) => s.addPasskey(passkeyRecord({ id: `racer-${i}` }), limit));
        expect(results.filter(Boolean)).toHaveLength(1);
        const stored = await peer.listPasskeys('alice');
        expect(stored).toHaveLength(limit);
        expect(stored.map((p) => p.id)).toContain(`racer-${results.indexOf(true)}`);
      });

      test(`${racers} concurrent additions to a user without passkeys: exactly the limit are stored`, async () => {
        const results = await race(subject, (s, i) => s.addPasskey(passkeyRecord({ id: `racer-${i}` }), limit));
        expect(results.filter(Boolean)).toHaveLength(limit);
        expect(await store.listPasskeys('alice')).toHaveLength(limit);
      });

      test(`${racers} concurrent uses recorded against one counter: exactly one records`, async () => {
        await store.addPasskey(passkeyRecord({ counter: 5 }), limit);
        const results = await race(subject, (s, i) => s.recordPasskeyUse(passkeyRecord().id, 5, 6 + i, 7_000 + i));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await peer.getPasskey(passkeyRecord().id)).toMatchObject({ counter: 6 + winner, lastUsedAt: 7_000 + winner });
      });
    });

    describe('WebAuthn challenges', () => {
      test('a challenge is returned once, by whichever connection takes it first', async () => {
        const record = challengeRecord({ purpose: 'register', userName: 'alice' });
        await store.putChallenge(record);
        expect(await peer.takeChallenge(record.challenge, 5_000)).toEqual(record);
        expect(await store.takeChallenge(record.challenge, 5_000)).toBeNull();
        expect(await peer.takeChallenge(record.challenge, 5_000)).toBeNull();
      });

      test('a login challenge without a user name round-trips', async () => {
        const record = challengeRecord({ purpose: 'login', userName: null });
        await store.putChallenge(record);
        expect(await store.takeChallenge(record.challenge, 5_000)).toEqual(record);
      });

      test('a challenge or credential id holding a NUL character (a client sends both) finds nothing', async () => {
        await store.putChallenge(challengeRecord({ challenge: 'known' }));
        await store.addPasskey(passkeyRecord({ id: 'known' }), limit);
        expect(await store.takeChallenge('known\u0000', 5_000)).toBeNull();
        expect(await store.getPasskey('known\u0000')).toBeNull();
        expect(await store.recordPasskeyUse('known\u0000', 0, 1, 5_000)).toBe(false);
        expect(await store.takeChallenge('known', 5_000)).not.toBeNull();
        expect(await store.getPasskey('known')).not.toBeNull();
      });

      test('an unknown challenge is null', async () => {
        await store.putChallenge(challengeRecord({ challenge: 'known' }));
        expect(await store.takeChallenge('unknown', 5_000)).toBeNull();
        expect(await store.takeChallenge('known', 5_000)).not.toBeNull();
      });

      test('the expiry edge: usable at expiresAt - 1, not at expiresAt or later', async () => {
        await store.putChallenge(challengeRecord({ challenge: 'just-in-time', expiresAt: 10_000 }));
        await store.putChallenge(challengeRecord({ challenge: 'at-expiry', expiresAt: 10_000 }));
        await store.putChallenge(challengeRecord({ challenge: 'late', expiresAt: 10_000 }));
        expect(await peer.takeChallenge('just-in-time', 9_999)).toMatchObject({ challenge: 'just-in-time' });
        expect(await peer.takeChallenge('at-expiry', 10_000)).toBeNull();
        expect(await store.takeChallenge('late', 60_000)).toBeNull();
      });

      test('taking one challenge leaves the others', async () => {
        await store.putChallenge(challengeRecord({ challenge: 'one' }));
        await store.putChallenge(challengeRecord({ challenge: 'two', expiresAt: 20_000 }));
        await store.takeChallenge('one', 5_000);
        expect(await peer.takeChallenge('two', 5_000)).toEqual(challengeRecord({ challenge: 'two', expiresAt: 20_000 }));
      });

      test('putting a challenge that exists is refused and keeps the first', async () => {
        await store.putChallenge(challengeRecord({ userName: 'alice' }));
        await expect(peer.putChallenge(challengeRecord({ userName: 'mallory' }))).rejects.toThrow();
        expect(await store.takeChallenge(challengeRecord().challenge, 5_000)).toMatchObject({ userName: 'alice' });
      });

      test('purgeChallenges deletes those expired at `now`, never taken, keeps the live ones, and counts what it deleted', async () => {
        await store.putChallenge(challengeRecord({ challenge: 'abandoned', expiresAt: 4_000 }));
        await store.putChallenge(challengeRecord({ challenge: 'ends-now', expiresAt: 5_000 }));
        await store.putChallenge(challengeRecord({ challenge: 'live', expiresAt: 5_001 }));
        expect(await peer.purgeChallenges(5_000)).toBe(2);
        expect(await store.purgeChallenges(5_000)).toBe(0);
        expect(await peer.takeChallenge('live', 5_000)).toMatchObject({ challenge: 'live' });
        expect(await store.purgeChallenges(Number.MAX_SAFE_INTEGER)).toBe(0);
      });

      test(`${racers} concurrent takes of one challenge across both connections: exactly one gets it`, async () => {
        const record = challengeRecord();
        await store.putChallenge(record);
        const results = await race(subject, (s) => s.takeChallenge(record.challenge, 5_000));
        expect(results.filter((r) => r !== null)).toEqual([record]);
      });
    });

    describe('removeAll', () => {
      test('removes the TOTP, recovery codes and passkeys of that user only', async () => {
        for (const userName of ['alice', 'bob']) {
          await enrol(userName);
          await store.replaceRecoveryCodes(userName, [codeHash(1), codeHash(2)]);
          await store.addPasskey(passkeyRecord({ id: `${userName}-1`, userName }), limit);
          await store.addPasskey(passkeyRecord({ id: `${userName}-2`, userName }), limit);
        }
        await peer.removeAll('alice');
        expect(await store.getTotp('alice')).toBeNull();
        expect(await store.countRecoveryCodes('alice')).toBe(0);
        expect(await store.consumeRecoveryCode('alice', codeHash(1), 5_000)).toBe(false);
        expect(await store.listPasskeys('alice')).toEqual([]);
        expect(await store.getPasskey('alice-1')).toBeNull();

        expect(await peer.getTotp('bob')).toMatchObject({ confirmedAt: 2_000 });
        expect(await peer.countRecoveryCodes('bob')).toBe(2);
        expect((await peer.listPasskeys('bob')).map((p) => p.id)).toEqual(['bob-1', 'bob-2']);
      });

      test('a removed user can enrol again from scratch', async () => {
        await enrol();
        await store.useTotpStep('alice', step);
        await store.removeAll('alice');
        await enrol();
        expect(await peer.useTotpStep('alice', step)).toBe(true);
      });

      test('on a user without second factors it does nothing', async () => {
        await enrol('bob');
        await store.removeAll('nobody');
        expect(await store.getTotp('bob')).not.toBeNull();
      });
    });
  });
}
