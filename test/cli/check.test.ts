import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { baseConfig, Workspace } from './harness.js';

let ws: Workspace | undefined;
afterEach(() => ws?.remove());

describe('gatehouse check', () => {
  it('prints "configuration OK" when the config, key, secrets and files are fine', async () => {
    ws = new Workspace(`${baseConfig}static: ./public\n`);
    mkdirSync(join(ws.dir, 'public'));
    await ws.run(['secret', 'set', 'weather-token'], { stdin: 'a-long-upstream-token' });
    expect(await ws.run(['check'])).toEqual({ code: 0, stdout: 'configuration OK\n', stderr: '' });
  });

  it('prints every schema problem with its key path (exit 2)', async () => {
    ws = new Workspace(`${baseConfig}session:\n  idleTimeout: soon\nbogus: 1\n`);
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')).toEqual(expect.arrayContaining(['session.idleTimeout: expected a duration like "30m"', 'bogus: unknown key']));
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('reports a referenced secret that is not stored, without creating the store or the key', async () => {
    ws = new Workspace(undefined, { masterKey: false });
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('upstreams[0].credential.secret: no secret named "weather-token" is stored (use gatehouse secret set weather-token)\n');
    expect(existsSync(join(ws.dir, 'gatehouse.db'))).toBe(false);
    expect(existsSync(join(ws.dir, 'master.key'))).toBe(false);
  });

  it('reports an OIDC provider\'s client secret that is not stored (SPEC §9)', async () => {
    ws = new Workspace(`${baseConfig}
oidc:
  providers:
    - { name: corp, issuer: "https://idp.example.com", clientId: gatehouse, clientSecret: corp-oidc }
`, { masterKey: false });
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('oidc.providers[0].clientSecret: no secret named "corp-oidc" is stored (use gatehouse secret set corp-oidc)\n');
  });

  it('reports a missing master key without creating one', async () => {
    ws = new Workspace();
    await ws.run(['secret', 'set', 'weather-token'], { stdin: 'a-long-upstream-token' });
    rmSync(join(ws.dir, 'master.key'));
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^masterKey: (file .* does not exist|does not match)/m);
    expect(existsSync(join(ws.dir, 'master.key'))).toBe(false);
  });

  it('reports a master key that does not match the store', async () => {
    ws = new Workspace();
    await ws.run(['secret', 'set', 'weather-token'], { stdin: 'a-long-upstream-token' });
    writeFileSync(join(ws.dir, 'master.key'), `${Buffer.alloc(32, 7).toString('base64')}\n`);
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^masterKey: (file .* does not exist|does not match)/m);
    expect(result.stderr).not.toContain('no secret named');
  });

  it('reports TLS and static files that do not exist', async () => {
    ws = new Workspace(`${baseConfig}server:\n  tls: { cert: ./cert.pem, key: ./key.pem }\nstatic: ./public\n`);
    writeFileSync(join(ws.dir, 'cert.pem'), 'not checked further');
    writeFileSync(join(ws.dir, 'public'), 'a file, not a folder');
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`server.tls.key: ${join(ws.dir, 'key.pem')} does not exist\n`);
    expect(result.stderr).toContain(`static: ${join(ws.dir, 'public')} is not a folder\n`);
    expect(result.stderr).not.toContain('server.tls.cert');
  });
});

describe('gatehouse check on a broken store', () => {
  it('reports a store file that is not a database', async () => {
    ws = new Workspace();
    writeFileSync(join(ws.dir, 'gatehouse.db'), 'this is not a SQLite database, it is plain text that is long enough');
    const result = await ws.run(['check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`store.sqlite: ${join(ws.dir, 'gatehouse.db')} cannot be opened as a Gatehouse store (SQLITE_NOTADB)\n`);
  });
});

describe('a PostgreSQL store that does not answer', () => {
  const postgresConfig = baseConfig.replace('store:\n  sqlite: ./gatehouse.db', 'store:\n  postgres: postgres://gh:Pa55-w0rd-in-the-url@127.0.0.1:1/gatehouse\ncache:\n  redis: redis://127.0.0.1:1/0');

  it('check validates the configuration and the master key without contacting the database', async () => {
    ws = new Workspace(postgresConfig);
    expect(await ws.run(['check'])).toEqual({ code: 0, stdout: 'configuration OK\n', stderr: '' });
  });

  it('a command that needs an unreachable store fails with exit 1 and one line, and never shows the URL', async () => {
    ws = new Workspace(postgresConfig);
    const result = await ws.run(['secret', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: [^\n]+\n$/);
    expect(ws.output).not.toContain('Pa55-w0rd-in-the-url');
  });
});
