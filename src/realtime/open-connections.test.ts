import { describe, expect, it } from 'vitest';
import { OpenConnections } from './open-connections.js';

function entry(handle: string, user: string, log: string[]): { handle: string; user: string; close(code: number, reason: string): void } {
  return { handle, user, close: (code, reason) => log.push(`${handle}/${user}:${code}:${reason}`) };
}

describe('OpenConnections', () => {
  it('names by user the handles of sessions with open connections, never a public route\'s (no session to end)', () => {
    const open = new OpenConnections();
    const log: string[] = [];
    open.add(entry('h1', 'alice', log));
    open.add(entry('h2', 'alice', log));
    open.add(entry('', '', log));
    expect(open.handlesByUser()).toEqual(new Map([['alice', new Set(['h1', 'h2'])]]));
  });

  it('counts per session and forgets what is unregistered (once, however often called)', () => {
    const open = new OpenConnections();
    const log: string[] = [];
    const a = open.add(entry('h1', 'alice', log));
    open.add(entry('h1', 'alice', log));
    open.add(entry('h2', 'alice', log));
    expect(open.countFor('h1')).toBe(2);
    a();
    a();
    expect(open.countFor('h1')).toBe(1);
    expect(open.countFor('nope')).toBe(0);
  });

  it('counts the open event streams apart from the sockets (what a draining listener does not wait for)', () => {
    const open = new OpenConnections();
    const log: string[] = [];
    open.add(entry('h1', 'alice', log));
    const stream = open.add({ ...entry('h1', 'alice', log), kind: 'stream' });
    open.add({ ...entry('h2', 'bob', log), kind: 'stream' });
    expect(open.streams()).toBe(2);
    stream();
    expect(open.streams()).toBe(1);
  });

  it('closes a session\'s, a user\'s, or every connection, and says how many', () => {
    const open = new OpenConnections();
    const log: string[] = [];
    open.add(entry('h1', 'alice', log));
    open.add(entry('h2', 'alice', log));
    open.add(entry('h3', 'bob', log));
    expect(open.closeSession('h1', 4401, 'session ended')).toBe(1);
    expect(log).toEqual(['h1/alice:4401:session ended']);
    expect(open.closeUser('alice', 4401, 'user')).toBe(2);
    expect(open.closeAll(1001, 'stopping')).toBe(3);
    expect(open.closeUser('carol', 4401, 'x')).toBe(0);
  });

  it('survives a close that unregisters its entry while closing', () => {
    const open = new OpenConnections();
    const closedOnes: string[] = [];
    const unregister: (() => void)[] = [];
    for (const handle of ['h1', 'h1', 'h1']) {
      const i = unregister.length;
      unregister.push(open.add({ handle, user: 'alice', close: () => {
        closedOnes.push(handle);
        unregister[i]!();
      } }));
    }
    expect(open.closeSession('h1', 4401, 'x')).toBe(3);
    expect(closedOnes).toHaveLength(3);
    expect(open.countFor('h1')).toBe(0);
  });

  it('one connection failing to close does not keep the others open', () => {
    const open = new OpenConnections();
    open.add({ handle: 'h', user: 'alice', close: () => { throw new Error('already destroyed'); } });
    const closed: number[] = [];
    open.add({ handle: 'h', user: 'alice', close: (code) => closed.push(code) });
    expect(open.closeSession('h', 4401, 'session ended')).toBe(2);
    expect(closed).toEqual([4401]);
  });
});
