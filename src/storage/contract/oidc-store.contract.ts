import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Store } from '../store.js';
import type { LoginStateRecord, OidcSessionRecord } from '../../oidc/oidc-store.js';
import { race, racers, type ContractFactory, type ContractSubject } from './contract-subject.js';
import { sessionRecord, idHash } from './fixtures.js';

/** The OIDC store, with the sessions beside it (its purge keeps the records of live sessions only). */
export type OidcSubjectStore = Pick<Store, 'oidc' | 'sessions'>;

const hex = (c: string): string => c.repeat(64);

function loginState(overrides: Partial<LoginStateRecord> = {}): LoginStateRecord {
  return { stateHash: hex('a'), browserHash: hex('b'), provider: 'corp', sealed: 'v1.k.n.c.t', returnTo: '/app', createdAt: 1_000, expiresAt: 601_000, ...overrides };
}

function oidcSession(overrides: Partial<OidcSessionRecord> = {}): OidcSessionRecord {
  return { handle: 'handle-1', provider: 'corp', issuer: 'https://idp.example', subject: 'sub-1', sid: 'sid-1', amr: ['pwd'], sealedTokens: 'v1.k.n.tokens.t', accessExpiresAt: 61_000, refreshExpiresAt: 1_801_000, createdAt: 1_000, ...overrides };
}

export function describeOidcStoreContract(name: string, factory: ContractFactory<OidcSubjectStore>): void {
  describe(`${name}: OidcStore contract`, () => {
    let subject: ContractSubject<OidcSubjectStore>;
    let store: OidcSubjectStore;
    let peer: OidcSubjectStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    describe('login states', () => {
      test('a state is taken once, by the browser that began it, before it expires; the peer sees it', async () => {
        await store.oidc.putLoginState(loginState());
        expect(await peer.oidc.takeLoginState(hex('a'), hex('c'), 2_000), 'another browser').toBeNull();
        expect(await peer.oidc.takeLoginState(hex('a'), hex('b'), 601_000), 'at expiry').toBeNull();
        expect(await peer.oidc.takeLoginState(hex('a'), hex('b'), 600_999)).toEqual(loginState());
        expect(await store.oidc.takeLoginState(hex('a'), hex('b'), 2_000), 'used').toBeNull();
        expect(await store.oidc.takeLoginState(hex('9'), hex('b'), 2_000), 'unknown').toBeNull();
      });

      test(`of ${racers} racing takes of one state, exactly one wins`, async () => {
        await store.oidc.putLoginState(loginState());
        const won = await race(subject, (s) => s.oidc.takeLoginState(hex('a'), hex('b'), 2_000));
        expect(won.filter((r) => r !== null)).toHaveLength(1);
      });

      test('purge removes the expired ones only', async () => {
        await store.oidc.putLoginState(loginState({ stateHash: hex('1'), expiresAt: 5_000 }));
        await store.oidc.putLoginState(loginState({ stateHash: hex('2'), expiresAt: 9_000 }));
        expect(await peer.oidc.purgeLoginStates(5_000)).toBe(1);
        expect(await store.oidc.takeLoginState(hex('2'), hex('b'), 6_000)).not.toBeNull();
      });
    });

    describe('logout token ids', () => {
      test('a jti is taken once until it expires, across processes; purge removes the expired ones only', async () => {
        expect(await store.oidc.takeLogoutJti(hex('1'), 5_000, 1_000)).toBe(true);
        expect(await peer.oidc.takeLogoutJti(hex('1'), 9_000, 4_999), 'replayed').toBe(false);
        expect(await peer.oidc.takeLogoutJti(hex('2'), 9_000, 1_000)).toBe(true);
        expect(await store.oidc.purgeLogoutJtis(5_000)).toBe(1);
        expect(await store.oidc.takeLogoutJti(hex('2'), 9_000, 5_000), 'still recorded').toBe(false);
        expect(await store.oidc.takeLogoutJti(hex('1'), 9_000, 5_000), 'expired, purged').toBe(true);
        expect(await peer.oidc.takeLogoutJti(hex('2'), 12_000, 9_000), 'expired, not purged yet').toBe(true);
      });

      test(`of ${racers} racing takes of one jti, exactly one wins`, async () => {
        const won = await race(subject, (s) => s.oidc.takeLogoutJti(hex('3'), 5_000, 1_000));
        expect(won.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('identities', () => {
      test('an identity links once; found by (issuer, subject) exactly, listed by user, unlinked', async () => {
        const identity = { issuer: 'https://idp.example', subject: 'sub-1', userName: 'alice', createdAt: 1_000 };
        expect(await store.oidc.link(identity)).toBe(true);
        expect(await peer.oidc.link({ ...identity, userName: 'mallory' })).toBe(false);
        expect(await peer.oidc.findIdentity('https://idp.example', 'sub-1')).toEqual(identity);
        expect(await peer.oidc.findIdentity('https://idp.example', 'SUB-1')).toBeNull();
        expect(await peer.oidc.findIdentity('https://other.example', 'sub-1')).toBeNull();
        expect(await store.oidc.link({ ...identity, issuer: 'https://other.example', createdAt: 2_000 })).toBe(true);
        expect((await store.oidc.identitiesOf('alice')).map((i) => i.issuer)).toEqual(['https://idp.example', 'https://other.example']);
        expect(await store.oidc.unlink('https://other.example', 'sub-1')).toBe(true);
        expect(await store.oidc.unlink('https://other.example', 'sub-1')).toBe(false);
        expect(await peer.oidc.unlinkUser('alice')).toBe(1);
        expect(await store.oidc.identitiesOf('alice')).toEqual([]);
        expect(await store.oidc.findIdentity('https://idp.example', 'sub\u0000')).toBeNull();
      });

      test(`of ${racers} racing links of one identity to different users, exactly one wins`, async () => {
        const won = await race(subject, (s, i) => s.oidc.link({ issuer: 'https://idp.example', subject: 'sub-1', userName: `user-${i}`, createdAt: 1_000 }));
        expect(won.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('sessions', () => {
      test('a record is put, replaced, read by the peer, and purged once its session is gone', async () => {
        await store.sessions.create(sessionRecord({ idHash: idHash(1), handle: 'handle-1' }));
        await store.oidc.putSession(oidcSession({ sid: null, accessExpiresAt: null, refreshExpiresAt: null }));
        expect(await peer.oidc.getSession('handle-1')).toEqual(oidcSession({ sid: null, accessExpiresAt: null, refreshExpiresAt: null }));
        await store.oidc.putSession(oidcSession({ amr: ['pwd', 'otp'] }));
        expect(await peer.oidc.getSession('handle-1')).toEqual(oidcSession({ amr: ['pwd', 'otp'] }));
        await store.oidc.putSession(oidcSession({ handle: 'orphan' }));
        expect(await peer.oidc.purgeSessions()).toBe(1);
        expect(await store.oidc.getSession('orphan')).toBeNull();
        expect(await store.oidc.getSession('handle-1')).not.toBeNull();
      });

      test('replaceSession writes only while the session exists: once it has ended, false and nothing written, no record left behind', async () => {
        await store.sessions.create(sessionRecord({ idHash: idHash(1), handle: 'handle-1' }));
        await store.oidc.putSession(oidcSession());
        expect(await peer.oidc.replaceSession(oidcSession({ sealedTokens: 'v1.k.n.refreshed.t', accessExpiresAt: 121_000 }))).toBe(true);
        expect(await store.oidc.getSession('handle-1')).toEqual(oidcSession({ sealedTokens: 'v1.k.n.refreshed.t', accessExpiresAt: 121_000 }));
        await store.sessions.deleteByHandle('handle-1');
        expect(await peer.oidc.replaceSession(oidcSession({ sealedTokens: 'v1.k.n.late.t' }))).toBe(false);
        expect((await store.oidc.getSession('handle-1'))?.sealedTokens).toBe('v1.k.n.refreshed.t');
        expect(await peer.oidc.replaceSession(oidcSession({ handle: 'never' }))).toBe(false);
        expect(await store.oidc.getSession('never')).toBeNull();
      });

      test('purgeSession deletes one record, only once its session has ended', async () => {
        await store.sessions.create(sessionRecord({ idHash: idHash(1), handle: 'handle-1' }));
        await store.oidc.putSession(oidcSession());
        await store.oidc.putSession(oidcSession({ handle: 'orphan-1' }));
        await store.oidc.putSession(oidcSession({ handle: 'orphan-2' }));
        expect(await peer.oidc.purgeSession('handle-1'), 'live').toBe(false);
        expect(await peer.oidc.purgeSession('orphan-1')).toBe(true);
        expect(await peer.oidc.purgeSession('orphan-1'), 'gone').toBe(false);
        expect(await store.oidc.getSession('orphan-1')).toBeNull();
        expect(await store.oidc.getSession('orphan-2')).not.toBeNull();
        expect(await store.oidc.getSession('handle-1')).not.toBeNull();
      });

      test('the sessions of a provider session and of a subject are found by issuer exactly', async () => {
        await store.oidc.putSession(oidcSession({ handle: 'h-1', sid: 'sid-1', createdAt: 1_000 }));
        await store.oidc.putSession(oidcSession({ handle: 'h-2', sid: 'sid-2', createdAt: 2_000 }));
        await store.oidc.putSession(oidcSession({ handle: 'h-3', sid: 'sid-1', issuer: 'https://other.example' }));
        await store.oidc.putSession(oidcSession({ handle: 'h-4', sid: null, subject: 'sub-2' }));
        expect(await peer.oidc.handlesBySid('https://idp.example', 'sid-1')).toEqual(['h-1']);
        expect(await peer.oidc.handlesBySid('https://idp.example', 'SID-1')).toEqual([]);
        expect(await peer.oidc.handlesBySubject('https://idp.example', 'sub-1')).toEqual(['h-1', 'h-2']);
        expect(await peer.oidc.handlesBySubject('https://other.example', 'sub-2')).toEqual([]);
        expect(await peer.oidc.handlesBySid('https://idp.example', 'sid\u0000')).toEqual([]);
      });

      test('the sealed tokens are listed and re-sealed compare-and-set (master-key rotation)', async () => {
        await store.oidc.putSession(oidcSession());
        expect(await store.oidc.listSealed()).toEqual([{ id: 'handle-1', aad: 'oidc-tokens:handle-1', sealed: 'v1.k.n.tokens.t' }]);
        expect(await peer.oidc.replaceSealed('handle-1', 'stale', 'next')).toBe(false);
        expect(await peer.oidc.replaceSealed('handle-1', 'v1.k.n.tokens.t', 'next')).toBe(true);
        expect((await store.oidc.getSession('handle-1'))?.sealedTokens).toBe('next');
      });
    });
  });
}
