import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { SessionMemory } from '../sessions/session-memory.js';
import type { SessionRecord } from '../sessions/session-store.js';
import { OpenConnections } from './open-connections.js';
import { SessionConnectionsWatch } from './session-connections-watch.js';

/** Sessions as the store would list them; `failing` makes the read throw (the store is down). */
function sessionsOf(live: Map<string, Pick<SessionRecord, 'handle' | 'userName'>>, state: { failing: boolean }) {
  return {
    async list(filter: { userName?: string } = {}): Promise<SessionRecord[]> {
      if (state.failing) throw new Error('store unavailable');
      return [...live.values()].filter((s) => s.userName === filter.userName).map((s) => ({ ...s, lastSeenAt: 0, expiresAt: Number.MAX_SAFE_INTEGER }) as SessionRecord);
    },
    idleExpiresAt: (): number => Number.MAX_SAFE_INTEGER,
  };
}

function setup() {
  const clock = new ManualClock();
  const memory = new SessionMemory({ clock });
  const connections = new OpenConnections();
  const live = new Map([['h1', { handle: 'h1', userName: 'alice' }], ['h2', { handle: 'h2', userName: 'alice' }], ['h3', { handle: 'h3', userName: 'bob' }]]);
  const state = { failing: false };
  const watch = new SessionConnectionsWatch({ connections, sessions: sessionsOf(live, state), memory, clock, logger: createLogger({ destination: { write: () => {} } }) });
  const closed: string[] = [];
  for (const handle of ['h1', 'h2', 'h3']) {
    const unregister = connections.add({ handle, user: live.get(handle)!.userName, close: (code) => { closed.push(`${handle}:${code}`); unregister(); } });
  }
  return { memory, live, state, closed, connections, watch };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

describe('SessionConnectionsWatch on a forget', () => {
  it('closes (4401) only the named connections whose session is gone from the store', async () => {
    const { memory, live, closed } = setup();
    live.delete('h2');
    memory.forget('user', 'alice');
    await settle();
    expect(closed).toEqual(['h2:4401']);
  });

  it('a forget that ended nothing (a rotation, a role change) closes nothing', async () => {
    const { memory, closed } = setup();
    memory.forget('session', 'h1');
    memory.forget('all', null);
    await settle();
    expect(closed).toEqual([]);
  });

  it('fails closed: when the store cannot be read, the named connections are closed', async () => {
    const { memory, state, closed } = setup();
    state.failing = true;
    memory.forget('session', 'h3');
    await settle();
    expect(closed).toEqual(['h3:4401']);
  });
});

describe('SessionConnectionsWatch on a new connection', () => {
  it('reads its session at once: one revoked during the handshake (its forget came before add) is closed before watched() resolves', async () => {
    const { connections, closed } = setup();
    await Promise.all(['h1', 'h2', 'h3'].map((handle) => connections.watched(handle)));
    const unregister = connections.add({ handle: 'h4', user: 'alice', close: (code) => { closed.push(`h4:${code}`); unregister(); } });
    await connections.watched('h4');
    expect(closed).toEqual(['h4:4401']);
  });

  it('leaves open one whose session is live', async () => {
    const { connections, closed } = setup();
    await Promise.all(['h1', 'h2', 'h3'].map((handle) => connections.watched(handle)));
    expect(closed).toEqual([]);
  });
});

describe('SessionConnectionsWatch.checked', () => {
  it('resolves after a whole check that began after the call', async () => {
    const { watch } = setup();
    watch.start();
    try {
      let resolved = false;
      const checked = watch.checked().then(() => (resolved = true));
      expect(resolved).toBe(false);
      await checked;
      expect(resolved).toBe(true);
    } finally {
      await watch.stop();
    }
  });
});
