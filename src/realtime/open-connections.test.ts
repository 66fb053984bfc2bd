import { describe, expect, it } from 'vitest';
import { OpenConnections } from './open-connections.js';

/** A connection that records how it was closed and, like a real one, unregisters itself on close. */
function connection(registry: OpenConnections, handle: string, user: string): { closed: [number, string][]; unregister: () => void } {
  const closed: [number, string][] = [];
  const unregister = registry.add({
    handle,
    user,
    close: (code, reason) => {
      closed.push([code, reason]);
      unregister();
    },
  });
  return { closed, unregister };
}

describe('OpenConnections', () => {
  it('counts by session handle, and unregistering (twice is harmless) lowers the count', () => {
    const registry = new OpenConnections();
    const a1 = connection(registry, 'h-a', 'alice');
    connection(registry, 'h-a', 'alice');
    connection(registry, 'h-b', 'bob');
    expect(registry.countFor('h-a')).toBe(2);
    expect(registry.countFor('h-b')).toBe(1);
    expect(registry.countFor('h-none')).toBe(0);
    a1.unregister();
    a1.unregister();
    expect(registry.countFor('h-a')).toBe(1);
  });

  it('closeSession closes only that session\'s connections, with the code and reason, and says how many', () => {
    const registry = new OpenConnections();
    const a1 = connection(registry, 'h-a', 'alice');
    const a2 = connection(registry, 'h-a', 'alice');
    const other = connection(registry, 'h-a2', 'alice');
    expect(registry.closeSession('h-a', 4401, 'session ended')).toBe(2);
    expect(a1.closed).toEqual([[4401, 'session ended']]);
    expect(a2.closed).toEqual([[4401, 'session ended']]);
    expect(other.closed).toEqual([]);
    expect(registry.countFor('h-a')).toBe(0);
    expect(registry.closeSession('h-a', 4401, 'again')).toBe(0);
  });

  it('closeUser closes every session of the user; closeAll closes everything', () => {
    const registry = new OpenConnections();
    const a1 = connection(registry, 'h-a1', 'alice');
    const a2 = connection(registry, 'h-a2', 'alice');
    const b = connection(registry, 'h-b', 'bob');
    expect(registry.closeUser('alice', 4401, 'locked')).toBe(2);
    expect([a1.closed, a2.closed, b.closed]).toEqual([[[4401, 'locked']], [[4401, 'locked']], []]);
    expect(registry.closeAll(1001, 'going away')).toBe(1);
    expect(b.closed).toEqual([[1001, 'going away']]);
    expect(registry.countFor('h-b')).toBe(0);
  });

  it('one connection failing to close does not keep the others open', () => {
    const registry = new OpenConnections();
    registry.add({ handle: 'h', user: 'alice', close: () => { throw new Error('already destroyed'); } });
    const fine = connection(registry, 'h', 'alice');
    expect(registry.closeSession('h', 4401, 'session ended')).toBe(2);
    expect(fine.closed).toHaveLength(1);
  });
});
