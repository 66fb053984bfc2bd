import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { sessionRecord } from '../contract/fixtures.js';
import { migrations } from './migrations.js';
import { openSqliteStore } from './open-sqlite-store.js';

describe('openSqliteStore', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('migrates a fresh file to the latest schema version', async () => {
    const path = join(dir, 'g.db');
    const store = openSqliteStore(path);
    await store.close();
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(migrations.length);
    } finally {
      raw.close();
    }
  });

  test('keeps data across close and reopen', async () => {
    const path = join(dir, 'g.db');
    const first = openSqliteStore(path);
    await first.meta.set('k', 'v');
    await first.close();
    const second = openSqliteStore(path);
    expect(await second.meta.get('k')).toBe('v');
    await second.close();
  });

  test('ping resolves while open and rejects after close', async () => {
    const store = openSqliteStore(join(dir, 'g.db'));
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
  });

  test(':memory: gives a working private store', async () => {
    const a = openSqliteStore(':memory:');
    const b = openSqliteStore(':memory:');
    await a.meta.set('k', 'v');
    expect(await b.meta.get('k')).toBeNull();
    await a.close();
    await b.close();
  });

  test('refuses a file whose schema is newer than this code, naming both versions', () => {
    const path = join(dir, 'g.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.close();
    expect(() => openSqliteStore(path)).toThrow(`schema version ${migrations.length + 1}, newer than this Gatehouse knows (${migrations.length})`);
  });

  describe('several processes on one file', () => {
    const children: Child[] = [];
    afterEach(() => {
      for (const child of children.splice(0)) child.process.kill();
    });

    test('open a fresh file at once, then race on create and rotate: each atomic across processes', async () => {
      const path = join(dir, 'shared', 'g.db');
      for (let i = 0; i < 6; i += 1) children.push(startChild(path, i));
      await Promise.all(children.map((c) => c.next()));

      // Every process migrates the same fresh file at the same moment.
      expect(await step(children, 'open')).toEqual(children.map(() => ({ ok: true })));

      const created = await step(children, 'create');
      expect(created.filter((r) => r.ok === true)).toHaveLength(1);
      expect(created.filter((r) => r.ok === false)).toHaveLength(children.length - 1);

      const store = openSqliteStore(path);
      try {
        await store.sessions.create(sessionRecord({ idHash: 'old' }));
        const rotated = await step(children, 'rotate');
        expect(rotated.filter((r) => r.ok === true)).toHaveLength(1);
        expect(rotated.filter((r) => r.ok === false)).toHaveLength(children.length - 1);
        const remaining = await store.sessions.list();
        expect(remaining).toHaveLength(1);
        expect(remaining[0]?.idHash).toBe(`new-${rotated.findIndex((r) => r.ok === true)}`);
        expect(await store.users.list()).toHaveLength(1);
      } finally {
        await store.close();
      }
      await step(children, 'exit');
    });

    test('open and migrate fresh files at once, 150 times: none fails, each migration is applied once, by one process', async () => {
      for (let i = 0; i < 6; i += 1) children.push(startChild(join(dir, 'unused.db'), i));
      await Promise.all(children.map((c) => c.next()));
      // A race that is lost about once in a hundred starts (open-database.ts, switchToWal): many
      // fresh files, every process on each at the same moment.
      for (let round = 0; round < 150; round += 1) {
        const path = join(dir, `fresh-${round}`, 'g.db');
        const applied = (await step(children, `migrate ${path}`)).map((r) => {
          if (!Array.isArray(r.ok)) throw new Error(`round ${round}: a child failed: ${r.error}`);
          return r.ok as number[];
        });
        expect(applied.flat().sort((a, b) => a - b)).toEqual(migrations.map((m) => m.version));
        // All in one transaction: the one process that found them pending applied every one.
        expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      }
      await step(children, 'exit');
    });

    test('race on counters.take for one key: exactly max allowed in total, with the counts 1..max', async () => {
      const path = join(dir, 'g.db');
      for (let i = 0; i < 4; i += 1) children.push(startChild(path, i));
      await Promise.all(children.map((c) => c.next()));
      await step(children, 'open');

      // Each process tries 1,000 takes back to back: 4,000 attempts for 300 slots.
      const max = 300;
      const replies = await step(children, `take 1000 ${max} ${Date.now() + 300}`);
      const won = replies.map((r) => {
        if (!Array.isArray(r.ok)) throw new Error(`a child failed: ${r.error}`);
        return r.ok as number[];
      });
      expect(won.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: max }, (_, i) => i + 1));
      await step(children, 'exit');
    });

    test('race on the MFA consume-once verbs: no TOTP step, recovery code or challenge is used twice', async () => {
      const path = join(dir, 'g.db');
      const count = 300;
      const store = openSqliteStore(path);
      try {
        await store.mfa.putPendingTotp({ userName: 'racer', sealedSecret: 's', confirmedAt: null, createdAt: 1 });
        await store.mfa.confirmTotp('racer', 2);
        await store.mfa.replaceRecoveryCodes('racer', Array.from({ length: count }, (_, i) => `code-${i}`));
        for (let i = 0; i < count; i += 1) await store.mfa.putChallenge({ challenge: `challenge-${i}`, purpose: 'login', userName: null, expiresAt: 1_000_000 });

        for (let i = 0; i < 4; i += 1) children.push(startChild(path, i));
        await Promise.all(children.map((c) => c.next()));
        await step(children, 'open');
        // Every process walks the same steps, codes and challenges in the same order, in lockstep.
        const replies = await step(children, `mfa ${count} ${Date.now() + 300}`);
        const won = replies.map((r) => {
          if (r.ok === undefined) throw new Error(`a child failed: ${r.error}`);
          return r.ok as { steps: number[]; codes: number[]; challenges: number[] };
        });
        const all = (pick: (w: (typeof won)[number]) => number[]): number[] => won.flatMap(pick).sort((a, b) => a - b);
        const everyIndex = Array.from({ length: count }, (_, i) => i);
        // Steps only move forward, so a process that falls behind may see a step refused that no
        // one accepted; what must never happen is one accepted twice.
        expect(new Set(all((w) => w.steps)).size).toBe(all((w) => w.steps).length);
        expect(all((w) => w.codes)).toEqual(everyIndex);
        expect(all((w) => w.challenges)).toEqual(everyIndex);
        expect(await store.mfa.countRecoveryCodes('racer')).toBe(0);
      } finally {
        await store.close();
      }
      await step(children, 'exit');
    });

    test('race on addPasskey for the last free slot, round after round: never more than the limit stored (SPEC §4.5: at most 10)', async () => {
      const path = join(dir, 'g.db');
      const limit = 10;
      const store = openSqliteStore(path);
      try {
        for (let i = 0; i < limit - 1; i += 1) {
          await store.mfa.addPasskey({ id: `seed-${i}`, userName: 'racer', name: 'seed', publicKey: Buffer.from([1]), counter: 0, transports: [], createdAt: 1, lastUsedAt: null }, limit);
        }
        for (let i = 0; i < 4; i += 1) children.push(startChild(path, i));
        await Promise.all(children.map((c) => c.next()));
        await step(children, 'open');
        // One free slot per round, and every process reaches for it at the same instant; then the
        // winner's passkey is removed, so the next round races for the last slot again.
        for (let round = 0; round < 30; round += 1) {
          const replies = await step(children, `passkey ${round} ${limit} ${Date.now() + 20}`);
          const added = replies.map((r) => {
            if (typeof r.ok !== 'boolean') throw new Error(`a child failed: ${r.error}`);
            return r.ok;
          });
          const stored = (await store.mfa.listPasskeys('racer')).map((p) => p.id);
          expect(stored, `round ${round}`).toHaveLength(limit);
          expect(added.filter(Boolean), `round ${round}`).toHaveLength(1);
          const winner = stored.find((id) => id.startsWith(`${round}-`))!;
          expect(await store.mfa.removePasskey('racer', winner)).toBe(true);
        }
      } finally {
        await store.close();
      }
      await step(children, 'exit');
    });
  });
});

interface Reply {
  ok?: unknown;
  error?: string;
}

interface Child {
  process: ChildProcessWithoutNullStreams;
  next(): Promise<Reply>;
}

/**
 * A separate Node process driving openSqliteStore through Vite's module runner (so it runs this
 * TypeScript source, not a build). It answers each command on stdin with one JSON line, so the test
 * can release every process at once and make them really contend for the file's lock.
 */
const childScript = `
import { createInterface } from 'node:readline';
import { runnerImport } from 'vite';
const [modulePath, file, index] = process.argv.slice(1);
const { module } = await runnerImport(modulePath, { configFile: false, logLevel: 'silent' });
const sibling = async (name) => (await runnerImport(modulePath.replace(/open-sqlite-store\.ts$/, name), { configFile: false, logLevel: 'silent' })).module;
const { applyMigrations } = await sibling('migrations.ts');
const { openDatabase } = await sibling('open-database.ts');
const say = (reply) => process.stdout.write(JSON.stringify(reply) + '\\n');
const lines = createInterface({ input: process.stdin });
let store;
say({ ready: true });
for await (const command of lines) {
  try {
    if (command === 'open') { store = module.openSqliteStore(file); say({ ok: true }); }
    if (command.startsWith('migrate ')) {
      // What \`gatehouse migrate\` does, on the file named: the versions this process applied.
      const db = openDatabase(command.slice('migrate '.length));
      try { say({ ok: applyMigrations(db).map((m) => m.version) }); } finally { db.close(); }
    }
    if (command === 'create') say({ ok: await store.users.create({ name: 'racer', roles: [], passwordHash: 'h' + index, locked: false, passwordResetRequired: false, mfaEnabled: false, createdAt: 1, lastLoginAt: null }) });
    if (command === 'rotate') say({ ok: (await store.sessions.rotate('old', 'new-' + index, {})) !== null });
    if (command.startsWith('take ')) {
      // The counts of the takes this process was allowed. Every process starts at the same
      // instant (a busy wait: a timer is too coarse) and passes the same time, so only the file's
      // write lock decides who gets a slot.
      const [, attempts, max, startAt] = command.split(' ').map(Number);
      while (Date.now() < startAt) {}
      const allowed = [];
      for (let i = 0; i < attempts; i += 1) {
        const result = await store.counters.take('k', 1000, 60000, max);
        if (result.allowed) allowed.push(result.count);
      }
      say({ ok: allowed });
    }
    if (command.startsWith('mfa ')) {
      // The indexes of the steps, codes and challenges this process won, all processes starting
      // at one instant (see take) and trying each one in the same order.
      const [, count, startAt] = command.split(' ').map(Number);
      while (Date.now() < startAt) {}
      const won = { steps: [], codes: [], challenges: [] };
      for (let i = 0; i < count; i += 1) {
        if (await store.mfa.useTotpStep('racer', i)) won.steps.push(i);
        if (await store.mfa.consumeRecoveryCode('racer', 'code-' + i, 3)) won.codes.push(i);
        if (await store.mfa.takeChallenge('challenge-' + i, 1000)) won.challenges.push(i);
      }
      say({ ok: won });
    }
    if (command.startsWith('passkey ')) {
      // Whether this process got its passkey stored for the one user, every process starting at
      // one instant (see take).
      const [, round, limit, startAt] = command.split(' ');
      while (Date.now() < Number(startAt)) {}
      const id = round + '-' + index;
      say({ ok: await store.mfa.addPasskey({ id, userName: 'racer', name: id, publicKey: Buffer.from([1]), counter: 0, transports: [], createdAt: 1, lastUsedAt: null }, Number(limit)) });
    }
    if (command === 'exit') { await store?.close(); say({ ok: true }); break; }
  } catch (error) {
    say({ error: error.message });
  }
}
process.exit(0);
`;

function startChild(file: string, index: number): Child {
  const modulePath = fileURLToPath(new URL('./open-sqlite-store.ts', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e', childScript, modulePath, file, String(index)], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    process: child,
    async next() {
      const { value, done } = await replies.next();
      if (done) throw new Error(`child ${index} ended early: ${stderr}`);
      return JSON.parse(value as string) as Reply;
    },
  };
}

/** Sends one command to every child before awaiting any answer. */
async function step(children: Child[], command: string): Promise<Reply[]> {
  for (const child of children) child.process.stdin.write(`${command}\n`);
  return Promise.all(children.map((c) => c.next()));
}
