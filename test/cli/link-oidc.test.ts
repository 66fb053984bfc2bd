import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseConfig, Workspace } from './harness.js';

const config = `${baseConfig}
oidc:
  providers:
    - name: corp
      issuer: https://idp.example.com/realms/main
      clientId: gatehouse
      clientSecret: corp-oidc
`;

let ws: Workspace;
beforeEach(async () => {
  ws = new Workspace(config);
  expect((await ws.run(['user', 'add', 'alice', '--password-stdin'], { stdin: 'correct horse battery staple' })).code).toBe(0);
  expect((await ws.run(['user', 'add', 'bob', '--password-stdin'], { stdin: 'correct horse battery staple' })).code).toBe(0);
});
afterEach(() => ws.remove());

describe('gatehouse user link-oidc / unlink-oidc (SPEC §2, §9)', () => {
  it('links (issuer of P, SUB) to an existing user, audited; unlink removes it', async () => {
    expect(await ws.run(['user', 'link-oidc', 'alice', '--provider', 'corp', '--subject', 'f3a1-77'])).toMatchObject({ code: 0, stdout: 'user alice linked to f3a1-77 at corp\n' });
    const linked = await ws.withServices(({ store }) => store.oidc.findIdentity('https://idp.example.com/realms/main', 'f3a1-77'));
    expect(linked).toMatchObject({ userName: 'alice' });
    const events = await ws.withServices(({ store }) => store.audit.recent(1));
    expect(events[0]).toMatchObject({ type: 'oidc_identity_linked', user: 'cli', detail: { user: 'alice', provider: 'corp' } });
    expect(await ws.run(['user', 'unlink-oidc', 'alice'])).toMatchObject({ code: 0, stdout: 'user alice unlinked from 1 provider identity\n' });
    expect(await ws.withServices(({ store }) => store.oidc.identitiesOf('alice'))).toEqual([]);
  });

  it('an identity already linked to another user: exit 1, unchanged', async () => {
    expect((await ws.run(['user', 'link-oidc', 'alice', '--provider', 'corp', '--subject', 's1'])).code).toBe(0);
    const again = await ws.run(['user', 'link-oidc', 'bob', '--provider', 'corp', '--subject', 's1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already logs in as "alice"/);
    expect(await ws.withServices(({ store }) => store.oidc.identitiesOf('bob'))).toEqual([]);
  });

  it('exit 2 for an unknown provider or a missing option; exit 1 for an unknown user or nothing to unlink', async () => {
    expect((await ws.run(['user', 'link-oidc', 'alice', '--provider', 'nope', '--subject', 's1'])).code).toBe(2);
    expect((await ws.run(['user', 'link-oidc', 'alice', '--provider', 'corp'])).code).toBe(2);
    expect((await ws.run(['user', 'link-oidc', 'alice', '--provider', 'corp', '--subject', ''])).code).toBe(2);
    expect((await ws.run(['user', 'link-oidc', 'nobody', '--provider', 'corp', '--subject', 's1'])).code).toBe(1);
    expect((await ws.run(['user', 'unlink-oidc', 'nobody'])).code).toBe(1);
    expect((await ws.run(['user', 'unlink-oidc', 'bob'])).code).toBe(1);
  });
});
