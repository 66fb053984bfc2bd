import { describe, expect, it } from 'vitest';
import type { HeldOidc } from '../oidc/user-tokens.js';
import { ManualClock } from '../security/clock.js';
import { userRecord } from '../storage/contract/fixtures.js';
import { SessionMemory } from './session-memory.js';
import type { SessionRecord } from './session-store.js';

/**
 * Decision 0012: a session's OIDC tokens are held beside its memory entry and dropped by exactly
 * what drops the entry, so no revocation needs a path of its own to reach them.
 */
describe('SessionMemory: the OIDC tokens beside a session', () => {
  const clock = new ManualClock(1_000_000);

  function session(idHash: string, handle: string, userName = 'alice'): SessionRecord {
    return { idHash, handle, userName, createdAt: 0, lastSeenAt: clock.now(), expiresAt: clock.now() + 3_600_000, ip: '127.0.0.1', userAgent: 'test', passwordResetRequired: false, mfaPending: false, mfaCompleted: false };
  }

  function held(accessToken: string, handle = 'h1'): HeldOidc {
    return {
      record: { handle, provider: 'corp', issuer: 'https://idp.example', subject: 'sub', sid: null, amr: [], sealedTokens: `sealed-${accessToken}`, accessExpiresAt: null, refreshExpiresAt: null, createdAt: 0 },
      tokens: { idToken: null, accessToken, refreshToken: 'r' },
    };
  }

  function withSession(idHash = 'id1', handle = 'h1', userName = 'alice'): SessionMemory {
    const memory = new SessionMemory({ clock });
    memory.remember({ session: session(idHash, handle, userName), user: userRecord({ name: userName }), stored: 0 }, memory.epoch);
    return memory;
  }

  it('holds what it is given for a remembered session, a local login (null) included; nothing is known of others', () => {
    const memory = withSession();
    expect(memory.oidcOf('h1')).toBeUndefined();
    memory.rememberOidc('h1', held('a'), memory.epoch);
    expect(memory.oidcOf('h1')?.tokens.accessToken).toBe('a');
    memory.rememberOidc('h1', null, memory.epoch);
    expect(memory.oidcOf('h1')).toBeNull();
    memory.rememberOidc('h2', held('b', 'h2'), memory.epoch);
    expect(memory.oidcOf('h2')).toBeUndefined();
  });

  it('refuses what was read before a forget (a revocation applied while the read was in flight)', () => {
    const memory = withSession();
    memory.remember({ session: session('id2', 'h2', 'bob'), user: userRecord({ name: 'bob' }), stored: 0 }, memory.epoch);
    const epoch = memory.epoch;
    memory.forget('session', 'h2');
    memory.rememberOidc('h1', held('a'), epoch);
    expect(memory.oidcOf('h1')).toBeUndefined();
  });

  for (const [name, drop] of [
    ['forget by handle', (m: SessionMemory) => m.forget('session', 'h1')],
    ['forget by user', (m: SessionMemory) => m.forget('user', 'alice')],
    ['forget all', (m: SessionMemory) => m.forget('all', null)],
    ['clear', (m: SessionMemory) => m.clear()],
    ['a store read of the session again (after the age bound)', (m: SessionMemory) => m.remember({ session: session('id1', 'h1'), user: userRecord({ name: 'alice' }), stored: 0 }, m.epoch)],
  ] as const) {
    it(`is dropped with the session: ${name}`, () => {
      const memory = withSession();
      memory.rememberOidc('h1', held('a'), memory.epoch);
      drop(memory);
      expect(memory.oidcOf('h1')).toBeUndefined();
    });
  }

  it('is dropped when the session is evicted, and kept while another id of the handle (a rotation) is held', () => {
    const memory = new SessionMemory({ clock, settings: { maxEntries: 2 } });
    const user = userRecord({ name: 'alice' });
    memory.remember({ session: session('old', 'h1'), user, stored: 0 }, memory.epoch);
    memory.remember({ session: session('new', 'h1'), user, stored: 0 }, memory.epoch);
    memory.rememberOidc('h1', held('a'), memory.epoch);
    memory.remember({ session: session('x', 'hx'), user, stored: 0 }, memory.epoch);
    expect(memory.oidcOf('h1')?.tokens.accessToken).toBe('a');
    memory.remember({ session: session('y', 'hy'), user, stored: 0 }, memory.epoch);
    expect(memory.oidcOf('h1')).toBeUndefined();
  });
});
