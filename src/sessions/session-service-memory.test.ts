import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom, newToken } from '../security/random.js';
import { userRecord } from '../storage/contract/fixtures.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { StoreUnavailableError } from '../storage/store-unavailable-error.js';
import { SessionMemory } from './session-memory.js';
import { SessionService } from './session-service.js';
import type { SessionStore } from './session-store.js';

/**
 * SPEC §8 "Speed": a known session is answered from the process's memory with no store round trip;
 * an unknown cookie costs one lookup and never enters the memory, so a flood of them cannot evict
 * the sessions in use. A real SQLite store, wrapped to count the calls made to it.
 */
describe('SessionService with a session memory', () => {
  const idle = 60_000;
  let store: Store;
  let clock: ManualClock;
  let memory: SessionMemory;
  let trusted: boolean;
  let calls: string[];
  let sessions: SessionService;
  const meta = { ip: '127.0.0.1', userAgent: 'test' };
  const actor = { user: 'test' };

  /** The store cannot be reached (SPEC §8: PostgreSQL down): every call fails as the adapters fail. */
  let storeDown = false;

  function counting(real: SessionStore): SessionStore {
    return new Proxy(real, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          if (storeDown) return Promise.reject(new StoreUnavailableError('ECONNREFUSED'));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    clock = new ManualClock(1_000_000);
    calls = [];
    trusted = true;
    storeDown = false;
    memory = new SessionMemory({ clock, settings: { maxEntries: 3, maxAgeMs: 30_000 } });
    memory.trustWhen(() => trusted);
    await store.users.create(userRecord({ name: 'alice' }));
    await store.users.create(userRecord({ name: 'bob' }));
    sessions = new SessionService({
      store: counting(store.sessions),
      logger: silentLogger(),
      clock,
      random: cryptoRandom,
      audit: new AuditLog({ store: store.audit, logger: silentLogger(), clock }),
      settings: { idleTimeout: idle, absoluteTimeout: 3_600_000 },
      memory,
    });
  });
  afterEach(async () => {
    await store.close();
  });

  async function login(name = 'alice'): Promise<string> {
    return (await sessions.create((await store.users.get(name))!, meta)).token;
  }

  /** A proxied request as the pipeline makes it: validate, then record the activity. */
  async function request(token: string): Promise<boolean> {
    const live = await sessions.validate(token);
    if (!live) return false;
    const wait = sessions.touch(live.session);
    return wait ? wait : true;
  }

  it('a known session makes no session-store call after its first read', async () => {
    const token = await login();
    expect(await request(token)).toBe(true);
    calls = [];
    for (let i = 0; i < 50; i++) {
      clock.advance(100);
      expect(await request(token)).toBe(true);
    }
    expect(calls).toEqual([]);
  });

  it('an unknown cookie value costs exactly one lookup each time, and a flood of them evicts no session in use', async () => {
    const tokens = [await login('alice'), await login('bob')];
    for (const token of tokens) expect(await request(token)).toBe(true);
    calls = [];
    for (let i = 0; i < 200; i++) expect(await sessions.validate(newToken(cryptoRandom))).toBeNull();
    expect(calls).toEqual(Array(200).fill('getWithUser'));
    expect(memory.size).toBe(2);
    calls = [];
    for (const token of tokens) expect(await request(token)).toBe(true);
    expect(calls).toEqual([]);
  });

  it('is bounded by size (least recently used goes) and by age (re-read from the store)', async () => {
    const tokens = [await login(), await login(), await login(), await login()];
    for (const token of tokens) await request(token);
    expect(memory.size).toBe(3);
    calls = [];
    await request(tokens[0]!);
    expect(calls).toEqual(['getWithUser']);
    calls = [];
    clock.advance(30_000);
    await request(tokens[0]!);
    expect(calls).toContain('getWithUser');
  });

  it('the store down: a known session keeps working past the age bound while the memory is trusted (SPEC §8 "Failures"); an unknown one, or any once untrusted, fails as the store does', async () => {
    const token = await login();
    const unknown = await login('bob');
    expect(await request(token)).toBe(true);
    storeDown = true;
    clock.advance(45_000);
    // Past the 30 s age bound: the store is asked, fails, and the memory answers.
    expect((await sessions.validate(token))?.session.userName).toBe('alice');
    await expect(sessions.validate(unknown)).rejects.toThrow(StoreUnavailableError);
    trusted = false;
    await expect(sessions.validate(token)).rejects.toThrow(StoreUnavailableError);
    trusted = true;
    storeDown = false;
    // Back: read from the store again, and remembered afresh.
    calls = [];
    expect(await request(token)).toBe(true);
    expect(calls).toContain('getWithUser');
  });

  it('answers from the store while the memory is not trusted', async () => {
    const token = await login();
    await request(token);
    trusted = false;
    calls = [];
    await request(token);
    expect(calls).toEqual(['getWithUser']);
  });

  it('every revocation this process makes is forgotten before it answers: session, user, all, rotation', async () => {
    const [one, two, three] = [await login('alice'), await login('alice'), await login('bob')];
    for (const token of [one, two, three]) await request(token);
    const live = (await sessions.validate(one))!;
    const rotated = (await sessions.rotate(live.session, { mfaCompleted: true }))!;
    expect(await request(one)).toBe(false);
    expect(await request(rotated.token)).toBe(true);
    await sessions.revokeUser('alice', actor, 'test');
    expect(await request(two)).toBe(false);
    expect(await request(rotated.token)).toBe(false);
    expect(await request(three)).toBe(true);
    await sessions.revokeAll(actor, 'test');
    expect(await request(three)).toBe(false);
  });

  it('a revocation heard while a store read is in flight keeps that read out of memory', async () => {
    const token = await login();
    const pending = sessions.validate(token);
    memory.forget('user', 'alice');
    expect(await pending).not.toBeNull();
    expect(memory.size).toBe(0);
  });

  it('a session that looks idle from memory is judged by the store, which another node kept it alive in', async () => {
    const token = await login();
    await request(token);
    const idHash = (await store.sessions.list())[0]!.idHash;
    clock.advance(idle - 1_000);
    // Another node served it just now: the store holds its activity, this process's memory does not.
    await store.sessions.touch(idHash, clock.now());
    clock.advance(2_000);
    calls = [];
    expect(await request(token)).toBe(true);
    expect(calls[0]).toBe('getWithUser');
    expect(calls).not.toContain('deleteIdle');
  });

  it('validateNow answers a remembered session at once, and leaves everything else to validate', async () => {
    const token = await login();
    calls = [];
    expect(sessions.validateNow('not a token')).toBeNull();
    // Not read yet: only validate (the store) can answer.
    expect(sessions.validateNow(token)).toBeUndefined();
    expect(calls).toEqual([]);
    expect(await request(token)).toBe(true);
    calls = [];
    expect(sessions.validateNow(token)).toMatchObject({ session: { userName: 'alice' }, user: { name: 'alice' } });
    expect(calls).toEqual([]);
    // Revoked: forgotten, so not from memory; validate then finds nothing.
    await sessions.revokeUser('alice', actor, 'test');
    expect(sessions.validateNow(token)).toBeUndefined();
    expect(await sessions.validate(token)).toBeNull();
    // Memory not trusted: nothing from it.
    const other = await login('bob');
    expect(await request(other)).toBe(true);
    trusted = false;
    expect(sessions.validateNow(other)).toBeUndefined();
  });
});
