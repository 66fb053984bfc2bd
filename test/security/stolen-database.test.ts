import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * A stolen database (a backup, a disk image, a read-only SQL injection elsewhere): with the SQLite
 * file alone the thief must not be able to ride a live session, call the upstream with its secret,
 * or read a password. SPEC §4.2: the store keeps the SHA-256 of the session id, never the id;
 * secrets are encrypted at rest under the master key (kept outside the database); passwords are
 * argon2id hashes.
 */

const newPassword = 'a different long passphrase';
const sessions: string[] = [];

const env = useGateway({ users: [{ name: 'alice' }, { name: 'bob' }] });
beforeAll(async () => {
  sessions.push(await login(env.gw.url, 'alice'), await login(env.gw.url, 'bob'));
  const rotated = await call(env.gw.url, '/auth/password', { method: 'POST', session: sessions[1]!, body: { currentPassword: PASSWORD, newPassword } });
  sessions.push(rotated.cookie!);
  await call(env.gw.url, '/api/x', { session: sessions[0]! });
});

/** Every byte of the database: the main file, and the WAL and shared-memory files beside it. */
function databaseBytes(): Buffer {
  const files = readdirSync(env.gw.dir).filter((name) => name.startsWith('gatehouse.db'));
  expect(files).toContain('gatehouse.db');
  return Buffer.concat(files.map((name) => readFileSync(join(env.gw.dir, name))));
}

function expectAbsent(bytes: Buffer, value: string, label: string): void {
  for (const form of [Buffer.from(value, 'utf8'), Buffer.from(value, 'utf16le'), Buffer.from(Buffer.from(value).toString('base64'))]) {
    expect(bytes.includes(form), label).toBe(false);
  }
}

describe('stolen database', () => {
  it('holds no live session id, in any common encoding', () => {
    const bytes = databaseBytes();
    expect(sessions).toHaveLength(3);
    for (const token of sessions) {
      expectAbsent(bytes, token, 'a session id');
      expectAbsent(bytes, Buffer.from(token, 'base64url').toString('hex'), 'a session id as hex');
    }
  });

  it('holds the upstream secret only encrypted', () => {
    expectAbsent(databaseBytes(), SECRET, 'the upstream secret');
  });

  it('holds no password, old or new', () => {
    const bytes = databaseBytes();
    expectAbsent(bytes, PASSWORD, 'the old password');
    expectAbsent(bytes, newPassword, 'the new password');
    expect(bytes.includes(Buffer.from('$argon2id$'))).toBe(true);
  });

  it('the sessions it lists cannot be used as cookies (handles and hashes are not ids)', async () => {
    const stored = await env.gw.gateway.services.store.sessions.list();
    expect(stored.length).toBeGreaterThanOrEqual(2);
    for (const record of stored) {
      for (const candidate of [record.idHash, record.handle]) {
        expect((await call(env.gw.url, '/auth/session', { session: candidate })).status).toBe(401);
      }
    }
  });
});
