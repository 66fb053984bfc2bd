import { describe, expect, it } from 'vitest';
import { ManualClock } from '../security/clock.js';
import { SessionMemory } from './session-memory.js';

/**
 * What else a process keeps per session (the exchanged tokens of RFC 8693, oidc/token-exchanger.ts)
 * follows the same revocations as the session memory: every forget and clear is told to it.
 */
describe('SessionMemory.onForget', () => {
  it('tells each listener of every forget, with its scope and subject, and of a clear as "all"', () => {
    const memory = new SessionMemory({ clock: new ManualClock(0) });
    const heard: string[] = [];
    memory.onForget((scope, subject) => heard.push(`${scope}:${subject}`));
    memory.onForget((scope) => heard.push(`second:${scope}`));
    memory.forget('session', 'handle-1');
    memory.forget('user', 'alice');
    memory.forget('all', null);
    memory.clear();
    expect(heard).toEqual(['session:handle-1', 'second:session', 'user:alice', 'second:user', 'all:null', 'second:all', 'all:null', 'second:all']);
  });
});
