import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, fromAddress, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort, gatehouse, startServe, type ServeProcess } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import { totpCode } from '../helpers/totp.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * `gatehouse store copy` end to end (SPEC §2): a SQLite store filled by a real `serve` and the CLI
 * is copied into PostgreSQL with the built bin, then a `serve` on the PostgreSQL configuration (with
 * its Redis) carries on where the first left off: passwords, TOTP, a session cookie made before the
 * copy, the upstream secret, the signing key, a block, the audit log.
 */

const postgres = usePostgres();
const redis = useRedis();
const password = 'a long enough password';
const upstreamToken = 'the-upstream-token-4711';
let dir: string;
let upstream: TestUpstream;
let sqliteConfig: string;
let postgresConfig: string;
let postgresUrl: string;
let sqlitePort: number;
let postgresPort: number;
let serve: ServeProcess | undefined;
/** What the SQLite gateway handed out before the copy. */
let aliceCookie: string;
let bobTotpSecret: string;
let kidBefore: string;
let copyOutput: { code: number | null; stdout: string; stderr: string };

function writeConfig(file: string, port: number, store: string[], masterKey = 'file:./master.key'): void {
  writeFileSync(file, [
    `server: { host: 127.0.0.1, port: ${port}, publicOrigin: "http://127.0.0.1:${port}" }`,
    ...store,
    `masterKey: ${masterKey}`,
    `upstreams: [{ name: api, url: "${upstream.url}", credential: { type: bearer, secret: api-token } }]`,
    'routes:',
    '  - { path: /api/admin/**, methods: [GET], upstream: api, stripPrefix: /api, roles: [admin] }',
    '  - { path: /api/**, methods: [GET], upstream: api, stripPrefix: /api }',
    'limits:',
    '  - { name: fence, match: /api/fenced/**, by: ip, max: 1, per: 1m, action: block, for: 15m }',
    '',
  ].join('\n'));
}

async function emptyPostgres(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema()");
    return tables.rows.length === 0;
  } finally {
    await client.end();
  }
}

const cli = (args: string[], input?: string) => gatehouse(args, input === undefined ? {} : { input });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-copy-'));
  upstream = await startUpstream();
  postgresUrl = await postgres.server.createDatabase();
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  sqlitePort = await freePort();
  postgresPort = await freePort();
  sqliteConfig = join(dir, 'sqlite.yaml');
  postgresConfig = join(dir, 'postgres.yaml');
  writeConfig(sqliteConfig, sqlitePort, ['store: { sqlite: ./gatehouse.db }']);
  writeConfig(postgresConfig, postgresPort, [`store: { postgres: "${postgresUrl}", timeout: 10s }`, `cache: { redis: "${redis.server.url}", prefix: "copy:" }`]);

  expect(cli(['secret', 'set', 'api-token', '--config', sqliteConfig], upstreamToken)).toMatchObject({ code: 0 });
  expect(cli(['user', 'add', 'alice', '--role', 'admin', '--password-stdin', '--config', sqliteConfig], `${password}\n`)).toMatchObject({ code: 0 });
  for (const user of ['bob', 'carol']) expect(cli(['user', 'add', user, '--password-stdin', '--config', sqliteConfig], `${password}\n`)).toMatchObject({ code: 0 });
  expect(cli(['user', 'lock', 'carol', '--config', sqliteConfig])).toMatchObject({ code: 0 });

  serve = await startServe(sqliteConfig, sqlitePort);
  const base = `http://127.0.0.1:${sqlitePort}`;
  aliceCookie = await login(base, 'alice', password);
  expect((await call(base, '/api/admin/x', { session: aliceCookie })).status).toBe(200);
  // bob enrols TOTP, confirming with the previous step's code: the current one is left for the login after the copy.
  const bobCookie = await login(base, 'bob', password);
  const setup = await call(base, '/auth/mfa/totp/setup', { method: 'POST', session: bobCookie, body: {} });
  expect(setup.status).toBe(200);
  bobTotpSecret = setup.json().secret as string;
  const confirm = await call(base, '/auth/mfa/totp/confirm', { method: 'POST', session: bobCookie, body: { code: totpCode(bobTotpSecret, Date.now(), -1) } });
  expect(confirm.status).toBe(200);
  // 127.0.0.2 trips the block rule; the rest of the test comes from 127.0.0.1.
  const blocked = fromAddress('127.0.0.2');
  expect((await call(base, '/api/fenced/x', { dispatcher: blocked, session: aliceCookie })).status).toBe(200);
  expect((await call(base, '/api/fenced/x', { dispatcher: blocked, session: aliceCookie })).status).toBe(403);
  kidBefore = ((await call(base, '/.well-known/jwks.json')).json().keys as { kid: string }[])[0]!.kid;
  expect(await serve.stop()).toBe(0);
  serve = undefined;

  copyOutput = cli(['store', 'copy', '--to', postgresConfig, '--config', sqliteConfig]);
  serve = await startServe(postgresConfig, postgresPort);
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const base = (): string => `http://127.0.0.1:${postgresPort}`;

describe('gatehouse store copy: SQLite to PostgreSQL, then serve on PostgreSQL', () => {
  it('prints one line of counts and nothing secret', () => {
    expect(copyOutput.stderr).toBe('');
    expect(copyOutput.code).toBe(0);
    expect(copyOutput.stdout).toMatch(new RegExp(`^copied 3 users, 1 TOTP enrolment, 10 recovery codes, 0 passkeys, 1 secret, 1 signing key, 2 sessions, 1 block, \\d+ audit events into the store of ${postgresConfig}\\n$`));
    expect(copyOutput.stdout).not.toContain(upstreamToken);
    expect(copyOutput.stdout).not.toContain(aliceCookie);
  });

  it('a session cookie made before the copy still works, and the upstream gets the decrypted secret', async () => {
    expect((await call(base(), '/api/admin/x', { session: aliceCookie })).status).toBe(200);
    expect(upstream.seen.at(-1)?.headers.authorization).toBe(`Bearer ${upstreamToken}`);
  });

  it('users log in with their passwords and keep their roles; the locked one stays locked', async () => {
    const alice = await login(base(), 'alice', password);
    expect((await call(base(), '/api/admin/x', { session: alice })).status).toBe(200);
    expect((await call(base(), '/auth/login', { method: 'POST', body: { username: 'alice', password: 'not the password at all' } })).status).toBe(401);
    expect((await call(base(), '/auth/login', { method: 'POST', body: { username: 'carol', password } })).status).toBe(401);
  });

  it('the TOTP user needs and passes the second factor with the same authenticator', async () => {
    const step = await call(base(), '/auth/login', { method: 'POST', body: { username: 'bob', password } });
    expect(step.status).toBe(200);
    expect(step.json().mfaRequired).toBe(true);
    const verified = await call(base(), '/auth/mfa/verify', { method: 'POST', session: step.cookie!, body: { code: totpCode(bobTotpSecret, Date.now()) } });
    expect(verified.status).toBe(200);
    expect((await call(base(), '/api/x', { session: verified.cookie! })).status).toBe(200);
    expect((await call(base(), '/api/admin/x', { session: verified.cookie! })).status).toBe(403);
  });

  it('the JWKS publishes the same signing key', async () => {
    const keys = (await call(base(), '/.well-known/jwks.json')).json().keys as { kid: string }[];
    expect(keys.map((k) => k.kid)).toEqual([kidBefore]);
  });

  it('the block is enforced', async () => {
    const session = await login(base(), 'alice', password);
    expect((await call(base(), '/api/x', { dispatcher: fromAddress('127.0.0.2'), session })).status).toBe(403);
    expect((await call(base(), '/api/x', { session })).status).toBe(200);
    const blocks = JSON.parse(cli(['block', 'list', '--json', '--config', postgresConfig]).stdout) as { rule: string; key: string }[];
    expect(blocks.map(({ rule, key }) => ({ rule, key }))).toEqual([{ rule: 'fence', key: '127.0.0.2' }]);
  });

  it('`audit` shows the events from before the copy', () => {
    const events = JSON.parse(cli(['audit', '--limit', '200', '--json', '--config', postgresConfig]).stdout) as { type: string; user: string | null }[];
    const types = events.map((e) => `${e.type}:${e.user ?? ''}`);
    for (const old of ['user_created:alice', 'user_created:bob', 'user_locked:carol', 'mfa_enrolled:bob', 'rate_limit_triggered:']) {
      expect(types.some((t) => t.startsWith(old)), old).toBe(true);
    }
  });
});

describe('gatehouse store copy: PostgreSQL to SQLite', () => {
  it('copies back into a new SQLite file while serve runs on PostgreSQL: the same users, secrets, keys and audit', async () => {
    const file = join(dir, 'back.yaml');
    writeConfig(file, await freePort(), ['store: { sqlite: ./back/gatehouse.db }']);
    const result = cli(['store', 'copy', '--to', file, '--config', postgresConfig]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^copied 3 users, 1 TOTP enrolment, 10 recovery codes, 0 passkeys, 1 secret, 1 signing key, \d+ sessions, 1 block, \d+ audit events into the store of /);
    for (const args of [['user', 'list', '--json'], ['secret', 'list', '--json'], ['block', 'list', '--json'], ['audit', '--limit', '500', '--json']]) {
      expect(cli([...args, '--config', file]).stdout, args.join(' ')).toBe(cli([...args, '--config', postgresConfig]).stdout);
    }
  });
});

describe('gatehouse store copy: refusals', () => {
  it('a PostgreSQL target that is not empty: exit 1, one sentence, nothing written', async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      const before = (await client.query('SELECT count(*)::int AS n FROM audit_events')).rows[0].n as number;
      const result = cli(['store', 'copy', '--to', postgresConfig, '--config', sqliteConfig]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: the store of .* is not empty \(it holds users, .*\); store copy only fills an empty store, so nothing was written\n$/);
      expect((await client.query('SELECT count(*)::int AS n FROM audit_events')).rows[0].n).toBe(before);
    } finally {
      await client.end();
    }
  });

  it('a PostgreSQL target with another master key: exit 1, one sentence, not even its schema created', async () => {
    const url = await postgres.server.createDatabase();
    const file = join(dir, 'other-key.yaml');
    writeFileSync(join(dir, 'other.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeConfig(file, await freePort(), [`store: { postgres: "${url}" }`, `cache: { redis: "${redis.server.url}" }`], 'file:./other.key');
    const result = cli(['store', 'copy', '--to', file, '--config', sqliteConfig]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*masterKey is not the one this store was created with .*both must use the same master key; nothing was written\n$/);
    expect(await emptyPostgres(url)).toBe(true);
  });

  it('bad usage is exit 2: no --to, a --to that is missing or invalid, the store onto itself', () => {
    expect(cli(['store', 'copy', '--config', sqliteConfig]).code).toBe(2);
    expect(cli(['store', 'copy', '--to', join(dir, 'missing.yaml'), '--config', sqliteConfig]).code).toBe(2);
    const invalid = join(dir, 'invalid.yaml');
    writeFileSync(invalid, 'store: { postgres: "mysql://nope" }\n');
    expect(cli(['store', 'copy', '--to', invalid, '--config', sqliteConfig]).code).toBe(2);
    expect(cli(['store', 'copy', '--to', sqliteConfig, '--config', sqliteConfig]).code).toBe(2);
    expect(cli(['store', 'copy', '--to', postgresConfig, '--config', postgresConfig]).code).toBe(2);
    expect(existsSync(join(dir, 'gatehouse.db'))).toBe(true);
  });
});
