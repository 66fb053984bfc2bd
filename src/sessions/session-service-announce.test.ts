import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { announcer } from '../cluster/announcer.js';
import { LocalChannelHub, type LocalNodeChannel } from '../cluster/local-node-channel.js';
import { newNodeId, type NodeMessage } from '../cluster/node-messages.js';
import { AuditLog } from '../audit/audit-log.js';
import { silentLogger } from '../log/logger.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { until } from '../storage/contract/node-channel.contract.js';
import { userRecord } from '../storage/contract/fixtures.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { SessionService } from './session-service.js';

/**
 * Every revocation SessionService makes is announced after it committed, with the seq of its log
 * entry, naming the session by its handle (never its id or the id's hash) or the user by name.
 */
describe('SessionService announces every revocation with its log seq', () => {
  let store: Store;
  let clock: ManualClock;
  let own: LocalNodeChannel;
  let other: LocalNodeChannel;
  let heard: NodeMessage[];
  let sessions: SessionService;
  const meta = { ip: '127.0.0.1', userAgent: 'test' };
  const actor = { user: 'test' };
  const alice = userRecord({ name: 'alice' });

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    clock = new ManualClock(1_000_000);
    const hub = new LocalChannelHub();
    own = hub.channel(newNodeId(cryptoRandom));
    other = hub.channel(newNodeId(cryptoRandom));
    heard = [];
    other.subscribe((m) => heard.push(m));
    await store.users.create(alice);
    sessions = service();
  });
  afterEach(async () => {
    await store.close();
  });

  /** A service on the test's store, clock and channel; `confirm` as SessionService takes it. */
  function service(confirm?: (seq: number) => Promise<void>): SessionService {
    return new SessionService({
      store: store.sessions,
      logger: silentLogger(),
      clock,
      random: cryptoRandom,
      audit: new AuditLog({ store: store.audit, logger: silentLogger(), clock }),
      settings: { idleTimeout: 60_000, absoluteTimeout: 3_600_000 },
      announce: announcer(own, silentLogger()),
      ...(confirm ? { confirm } : {}),
    });
  }

  async function lastEntry(): Promise<{ seq: number; scope: string; subject: string | null }> {
    const { revocations } = await store.revocations.since(0);
    const { seq, scope, subject } = revocations.at(-1)!;
    return { seq, scope, subject };
  }

  async function expectAnnounced(count: number): Promise<NodeMessage> {
    await until(() => heard.length === count, `${count} announcements`);
    const message = heard.at(-1)!;
    const { subject, ...entry } = await lastEntry();
    expect(message).toMatchObject({ type: 'revoked', ...entry, ...(subject === null ? {} : { subject }), from: own.nodeId });
    return message;
  }

  it('end, revoke, revokeByHandle, revokeUser, revokeAll, rotate and an expired session deleted on sight', async () => {
    const issued = [];
    for (let i = 0; i < 5; i += 1) issued.push(await sessions.create(alice, meta));
    const [a, b, c, d, e] = issued.map((i) => i.session);

    await sessions.end(a!, actor);
    expect(await expectAnnounced(1)).toMatchObject({ scope: 'session', subject: a!.handle });
    await sessions.revoke(b!, actor, 'test');
    expect(await expectAnnounced(2)).toMatchObject({ scope: 'session', subject: b!.handle });
    await sessions.revokeByHandle(c!.handle, actor, 'test');
    expect(await expectAnnounced(3)).toMatchObject({ scope: 'session', subject: c!.handle });
    await sessions.rotate(d!, { mfaCompleted: true });
    expect(await expectAnnounced(4)).toMatchObject({ scope: 'session', subject: d!.handle });
    clock.advance(3_600_000);
    expect(await sessions.validate(issued[4]!.token)).toBeNull();
    expect(await expectAnnounced(5)).toMatchObject({ scope: 'session', subject: e!.handle });
    await sessions.revokeUser('alice', actor, 'test');
    expect(await expectAnnounced(6)).toMatchObject({ scope: 'user', subject: 'alice' });
    await sessions.revokeAll(actor, 'test');
    expect(await expectAnnounced(7)).toMatchObject({ scope: 'all' });
    // Nothing that opens a session, or finds it in the store, is in any message.
    const said = JSON.stringify(heard);
    for (const { token, session } of issued) {
      expect(said).not.toContain(token);
      expect(said).not.toContain(session.idHash);
    }
  });

  it('waits for confirmations of a revocation, but not of an expired session deleted on sight (every process judges expiry by time itself)', async () => {
    const waited: number[] = [];
    const confirming = service(async (seq) => {
      waited.push(seq);
    });
    const ended = await confirming.create(alice, meta);
    const idle = await confirming.create(alice, meta);
    await confirming.end(ended.session, actor);
    expect(waited).toEqual([(await lastEntry()).seq]);
    clock.advance(60_000);
    expect(await confirming.validate(idle.token)).toBeNull();
    expect(await expectAnnounced(2)).toMatchObject({ scope: 'session', subject: idle.session.handle });
    const absolute = await confirming.create(alice, meta);
    clock.advance(3_600_000);
    expect(await confirming.validate(absolute.token)).toBeNull();
    expect(await expectAnnounced(3)).toMatchObject({ scope: 'session', subject: absolute.session.handle });
    expect(waited).toHaveLength(1);
  });

  it('userChanged announces the user as a revocation does and waits for its confirmation, but ends no session', async () => {
    const waited: number[] = [];
    const confirming = service(async (seq) => {
      waited.push(seq);
    });
    const issued = await confirming.create(alice, meta);
    await confirming.userChanged('alice');
    expect(await expectAnnounced(1)).toMatchObject({ scope: 'user', subject: 'alice' });
    expect(waited).toEqual([(await lastEntry()).seq]);
    expect(await confirming.validate(issued.token)).not.toBeNull();
  });

  it('nothing to revoke, nothing announced; a failed announcement does not fail the revocation', async () => {
    const { session } = await sessions.create(alice, meta);
    await sessions.end(session, actor);
    await sessions.end(session, actor);
    expect(await sessions.revokeByHandle('missing', actor, 'test')).toBeNull();
    await until(() => heard.length === 1, 'one announcement');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(heard).toHaveLength(1);

    await own.close();
    const again = await sessions.create(alice, meta);
    expect(await sessions.revoke(again.session, actor, 'test')).toBe(true);
    expect(await store.sessions.get(again.session.idHash)).toBeNull();
    expect((await lastEntry()).subject).toBe(again.session.handle);
  });
});
