import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { handleLeadingAlphabet } from '../../src/security/random.js';
import { runRaw, Workspace } from './harness.js';

let ws: Workspace;
beforeEach(async () => {
  ws = new Workspace();
  await ws.addUser('alice');
  await ws.addUser('bob');
});
afterEach(() => {
  ws.remove();
});

describe('gatehouse session list', () => {
  it('prints the SPEC JSON shape, id being the non-secret handle', async () => {
    const handle = await ws.createSession('alice', 'Mozilla/5.0 (X11)');
    const result = await ws.run(['session', 'list', '--json']);
    expect(result.code).toBe(0);
    const list = JSON.parse(result.stdout) as Record<string, string>[];
    expect(list).toHaveLength(1);
    expect(Object.keys(list[0]!).sort()).toEqual(['createdAt', 'id', 'ip', 'lastSeenAt', 'user', 'userAgent']);
    expect(list[0]).toMatchObject({ id: handle, user: 'alice', ip: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11)' });
    expect(new Date(list[0]!.lastSeenAt!).toISOString()).toBe(list[0]!.lastSeenAt);
  });

  it('filters by --user and prints a table', async () => {
    const alices = await ws.createSession('alice');
    await ws.createSession('bob');
    const lines = (await ws.run(['session', 'list', '--user', 'alice'])).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +USER +CREATED +LAST SEEN +IP +USER AGENT$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${alices.replace(/-/g, '\\-')} +alice +\\S+ +\\S+ +203\\.0\\.113\\.7 +test-agent/1\\.0$`));
  });

  it('shows a hostile user agent without letting it drive the terminal', async () => {
    await ws.createSession('alice', 'evil\u001b]52;c;aGk=\u0007\u009b2J\u202e');
    const table = (await ws.run(['session', 'list'])).stdout;
    const json = (await ws.run(['session', 'list', '--json'])).stdout;
    for (const text of [table, json]) expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(table).toContain('evil\\u001b]52;c;aGk=\\u0007\\u009b2J\\u202e');
    expect((JSON.parse(json) as { userAgent: string }[])[0]!.userAgent).toBe('evil\u001b]52;c;aGk=\u0007\u009b2J\u202e');
  });

  it('--user with an unknown user fails with exit 1', async () => {
    expect(await ws.run(['session', 'list', '--user', 'nobody'])).toMatchObject({ code: 1, stderr: 'error: no user named "nobody"\n' });
  });
});

describe('gatehouse session revoke', () => {
  it('revokes one session by id and records who did it', async () => {
    const first = await ws.createSession('alice');
    const second = await ws.createSession('alice');
    expect(await ws.run(['session', 'revoke', first])).toMatchObject({ code: 0, stdout: `session ${first} revoked\n` });
    expect(await ws.sessionHandles()).toEqual([second]);
    const events = await ws.withServices(async ({ store }) => store.audit.recent(1));
    expect(events[0]).toMatchObject({ type: 'session_revoked', user: 'alice', detail: { session: first, by: 'cli' } });
  });

  it('revokes every session of a user with --user', async () => {
    await ws.createSession('alice');
    await ws.createSession('alice');
    const bobs = await ws.createSession('bob');
    expect(await ws.run(['session', 'revoke', '--user', 'alice'])).toMatchObject({ code: 0, stdout: '2 sessions of alice revoked\n' });
    expect(await ws.sessionHandles()).toEqual([bobs]);
  });

  it('revokes every session with --all', async () => {
    await ws.createSession('alice');
    await ws.createSession('bob');
    expect(await ws.run(['session', 'revoke', '--all'])).toMatchObject({ code: 0, stdout: '2 sessions revoked\n' });
    expect(await ws.sessionHandles()).toEqual([]);
  });

  it('an unknown id fails with exit 1', async () => {
    expect(await ws.run(['session', 'revoke', 'AAAAAAAAAAAA'])).toMatchObject({ code: 1, stderr: 'error: no live session has the id "AAAAAAAAAAAA"\n' });
  });

  it('--user with an unknown user fails with exit 1', async () => {
    expect((await ws.run(['session', 'revoke', '--user', 'nobody'])).code).toBe(1);
  });

  it.each([
    [[]],
    [['--all', '--user', 'alice']],
    [['someid', '--all']],
    [['someid', '--user', 'alice']],
  ])('needs exactly one of ID, --user, --all: %j is exit 2', async (args) => {
    const handle = await ws.createSession('alice');
    const result = await ws.run(['session', 'revoke', ...args]);
    expect(result).toMatchObject({ code: 2, stderr: 'error: give exactly one of a session id, --user NAME or --all\n' });
    expect(await ws.sessionHandles()).toEqual([handle]);
  });
});

describe('every id the CLI prints can be typed back as printed (issue 10)', () => {
  /** A stored session with a chosen handle, as the session service would store it. */
  async function storeSessions(handles: readonly string[]): Promise<void> {
    await ws.withServices(async ({ store, clock }) => {
      const now = clock.now();
      for (const [i, handle] of handles.entries()) {
        await store.sessions.create({
          idHash: sha256Hex(`session-${i}`), handle, userName: 'alice', createdAt: now, lastSeenAt: now, expiresAt: now + 3_600_000,
          ip: '203.0.113.7', userAgent: 'test-agent/1.0', passwordResetRequired: false, mfaPending: false, mfaCompleted: false,
        });
      }
    });
  }

  it('revokes, exactly as `session list` prints them, handles of every leading character a handle may have', async () => {
    // One handle per possible first character, each with the "-" and "_" base64url allows after it.
    const handles = [...handleLeadingAlphabet].map((c, i) => `${c}-_${String(i).padStart(9, '0')}`);
    await storeSessions(handles);
    const printed = (JSON.parse((await ws.run(['session', 'list', '--json'])).stdout) as { id: string }[]).map((s) => s.id);
    const table = (await ws.run(['session', 'list'])).stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/ +/)[0]);
    expect([...printed].sort()).toEqual([...handles].sort());
    expect([...table].sort()).toEqual([...handles].sort());
    for (const id of printed) expect(await ws.run(['session', 'revoke', id])).toMatchObject({ code: 0, stdout: `session ${id} revoked\n`, stderr: '' });
    expect(await ws.sessionHandles()).toEqual([]);
  });

  it('sessions the gateway creates get handles that start with a letter or digit', async () => {
    for (let i = 0; i < 20; i += 1) await ws.createSession('alice');
    for (const handle of await ws.sessionHandles()) expect(handle).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{11}$/);
  });

  it('`session revoke -- ID` works, also for a handle from before they could not start with "-"', async () => {
    await storeSessions(['-67XAKwsMjmU', 'B67XAKwsMjmU']);
    // Without "--" a leading "-" is an option, and nothing is revoked: the reason for "--".
    expect(await ws.run(['session', 'revoke', '-67XAKwsMjmU'])).toMatchObject({ code: 2 });
    // After "--" nothing is an option (POSIX), so --config goes before it.
    const config = ['--config', ws.configFile];
    expect(await runRaw(['session', 'revoke', ...config, '--', '-67XAKwsMjmU'])).toMatchObject({ code: 0, stdout: 'session -67XAKwsMjmU revoked\n' });
    expect(await runRaw([...config, 'session', 'revoke', '--', 'B67XAKwsMjmU'])).toMatchObject({ code: 0, stdout: 'session B67XAKwsMjmU revoked\n' });
    expect(await ws.sessionHandles()).toEqual([]);
  });
});
