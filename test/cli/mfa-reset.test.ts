import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { totpCode } from '../helpers/totp.js';
import { Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => ws.remove());

const password = 'correct horse battery staple';

describe('gatehouse user mfa-reset', () => {
  it("removes TOTP, recovery codes and passkeys and revokes the user's sessions", async () => {
    expect((await ws.run(['user', 'add', 'alice', '--password-stdin'], { stdin: password })).code).toBe(0);
    await ws.withServices(async ({ totp, store, sessions, accounts, clock }) => {
      const setup = await totp.setup('alice');
      if (setup === 'already_enabled') throw new Error('unexpected');
      expect(await totp.confirm('alice', totpCode(setup.secret, clock.now()))).not.toBe('invalid_code');
      await store.mfa.addPasskey({ id: 'cred-1', userName: 'alice', name: 'Key', publicKey: Buffer.from([1]), counter: 0, transports: [], createdAt: clock.now(), lastUsedAt: null }, 10);
      const user = (await accounts.get('alice'))!;
      await sessions.create(user, { ip: '127.0.0.1', userAgent: 'test' });
    });
    const list = JSON.parse((await ws.run(['user', 'list', '--json'])).stdout) as { mfa: boolean }[];
    expect(list[0]!.mfa).toBe(true);

    const result = await ws.run(['user', 'mfa-reset', 'alice']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/second factors of alice removed/);
    await ws.withServices(async ({ totp, store, sessions, accounts }) => {
      expect(await totp.isEnrolled('alice')).toBe(false);
      expect(await store.mfa.getTotp('alice')).toBeNull();
      expect(await store.mfa.countRecoveryCodes('alice')).toBe(0);
      expect(await store.mfa.listPasskeys('alice')).toEqual([]);
      expect(await sessions.list({ userName: 'alice' })).toEqual([]);
      expect((await accounts.get('alice'))?.mfaEnabled).toBe(false);
    });
  });

  it('exits 1 for an unknown user', async () => {
    const result = await ws.run(['user', 'mfa-reset', 'nobody']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: no user named "nobody"\n');
  });
});
