import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { createLogger } from '../log/logger.js';
import { open, seal } from '../secrets/envelope.js';
import type { Keyring } from '../secrets/keyring.js';
import { keyringOf } from '../../test/helpers/keyring.js';
import { ManualClock } from '../security/clock.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { signAssertion } from './assertion.js';
import { signingKeyAad } from './signing-key-store.js';
import { defaultGraceMs, minimumGraceMs, SigningKeys, type PublishedKeys } from './signing-keys.js';

const keyA = Buffer.alloc(32, 0xa1);
const keyB = Buffer.alloc(32, 0xb2);
const hour = 3_600_000;

describe('SigningKeys', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let logLines: string[];
  const started: SigningKeys[] = [];

  function service(keyring: Keyring = keyringOf(keyA), on: Store = store): SigningKeys {
    const logger = createLogger({ destination: { write: (line: string) => void logLines.push(line) } });
    const keys = new SigningKeys({ store: on.keys, keyring, clock, random: cryptoRandom, audit: new AuditLog({ store: on.audit, logger, clock }), logger });
    started.push(keys);
    return keys;
  }

  const kids = (published: PublishedKeys): string[] => published.keys.map((k) => k.kid);

  /** A token from the service's active key, verified against its published set. */
  async function verifies(keys: SigningKeys, against: PublishedKeys = keys.published): Promise<string> {
    const token = await signAssertion(keys.active, { issuer: 'https://gw.example', audience: 'https://api.example', subject: 'alice', sessionHandle: 'h', method: 'GET', url: 'https://api.example/x' }, { clock, random: cryptoRandom });
    const { protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys: [...against.keys] }), { currentDate: new Date(clock.now()) });
    return protectedHeader.kid!;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-keys-'));
    store = openSqliteStore(join(dir, 'g.db'));
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    logLines = [];
  });
  afterEach(async () => {
    for (const keys of started.splice(0)) keys.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('active and published refuse to answer before init', () => {
    const keys = service();
    expect(() => keys.active).toThrow(/init/);
    expect(() => keys.published).toThrow(/init/);
  });

  test('the first init creates one Ed25519 key whose kid is its RFC 7638 thumbprint; it is published and signs', async () => {
    const keys = service();
    await keys.init();
    const stored = await store.keys.list();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ kid: keys.active.kid, createdAt: clock.now(), retiredAt: null, publishedUntil: null });
    const [jwk] = keys.published.keys;
    expect(jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), kid: keys.active.kid, alg: 'EdDSA', use: 'sig' });
    expect(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk!.x })).toBe(keys.active.kid);
    expect(JSON.parse(keys.published.body)).toEqual({ keys: [jwk] });
    expect(await verifies(keys)).toBe(keys.active.kid);
    expect(logLines.join('')).toContain('created the first signing key');
  });

  test('the signing key in memory is not extractable', async () => {
    const keys = service();
    await keys.init();
    expect(keys.active.key.extractable).toBe(false);
  });

  test('later starts, in this process or another connection, use the stored key', async () => {
    const first = service();
    await first.init();
    const again = service();
    await again.init();
    const other = openSqliteStore(join(dir, 'g.db'));
    try {
      const elsewhere = service(keyringOf(keyA), other);
      await elsewhere.init();
      expect(again.active.kid).toBe(first.active.kid);
      expect(elsewhere.active.kid).toBe(first.active.kid);
      expect(await store.keys.list()).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  test('the private key is sealed at rest under its kid: neither d nor its bytes are in the database file', async () => {
    const keys = service();
    await keys.init();
    const [record] = await store.keys.list();
    const privateJwk = JSON.parse(open(keyringOf(keyA), signingKeyAad(record!.kid), record!.sealedPrivateKey).toString('utf8')) as { d: string };
    expect(() => open(keyringOf(keyA), signingKeyAad('another-kid'), record!.sealedPrivateKey)).toThrow();
    const bytes = Buffer.concat(readdirSync(dir).filter((f) => f.startsWith('g.db')).map((f) => readFileSync(join(dir, f))));
    expect(bytes.includes(record!.sealedPrivateKey)).toBe(true);
    for (const form of [Buffer.from(privateJwk.d), Buffer.from(privateJwk.d, 'base64url'), Buffer.from(Buffer.from(privateJwk.d, 'base64url').toString('base64'))]) {
      expect(bytes.includes(form)).toBe(false);
    }
  });

  test('rotate: the new key signs, the old one stays published until the grace period ends, then is purged', async () => {
    const keys = service();
    await keys.init();
    const old = keys.active.kid;
    const oldToken = await signAssertion(keys.active, { issuer: 'i', audience: 'a', subject: null, sessionHandle: null, method: 'GET', url: 'u' }, { clock, random: cryptoRandom });

    clock.advance(1_000);
    const rotation = await keys.rotate({}, { user: 'cli' });
    expect(rotation).toEqual({ kid: expect.any(String), retired: [old], publishedUntil: clock.now() + defaultGraceMs });
    expect(keys.active.kid).toBe(rotation.kid);
    expect(kids(keys.published)).toEqual([rotation.kid, old]);
    expect(await verifies(keys)).toBe(rotation.kid);
    // An assertion signed just before the rotation still verifies against the new set.
    await jwtVerify(oldToken, createLocalJWKSet({ keys: [...keys.published.keys] }), { currentDate: new Date(clock.now()) });

    clock.advance(defaultGraceMs - 1);
    await keys.refresh();
    expect(kids(keys.published)).toEqual([rotation.kid, old]);
    clock.advance(1);
    await keys.refresh();
    expect(kids(keys.published)).toEqual([rotation.kid]);
    expect((await store.keys.list()).map((k) => k.kid)).toEqual([rotation.kid]);
  });

  test('a rotation made elsewhere (the CLI) is picked up by the next refresh', async () => {
    const gateway = service();
    await gateway.init();
    const old = gateway.active.kid;
    const cli = service();
    const rotation = await cli.rotate({ grace: hour }, { user: 'cli' });
    expect(gateway.active.kid).toBe(old);
    await gateway.refresh();
    expect(gateway.active.kid).toBe(rotation.kid);
    expect(kids(gateway.published)).toEqual([rotation.kid, old]);
    expect(logLines.join('')).toContain('signing assertions with a new key');
  });

  test('start refreshes on its own at the configured interval', async () => {
    await service().init();
    const logger = createLogger({ destination: { write: () => undefined } });
    const gateway = new SigningKeys({ store: store.keys, keyring: keyringOf(keyA), clock, random: cryptoRandom, audit: new AuditLog({ store: store.audit, logger, clock }), logger, refreshIntervalMs: 20 });
    started.push(gateway);
    await gateway.init();
    gateway.start();
    const rotation = await service().rotate({}, { user: 'cli' });
    await expect.poll(() => gateway.active.kid, { timeout: 2_000, interval: 10 }).toBe(rotation.kid);
  });

  test('rotate records signing_key_rotated, with no key material', async () => {
    const keys = service();
    await keys.init();
    const old = keys.active.kid;
    const rotation = await keys.rotate({ grace: 2 * hour }, { user: 'cli', ip: null, requestId: null });
    const [event] = await store.audit.recent(1);
    expect(event).toEqual({
      time: clock.now(),
      type: 'signing_key_rotated',
      user: null,
      ip: null,
      requestId: null,
      detail: { kid: rotation.kid, retired: old, publishedUntil: new Date(clock.now() + 2 * hour).toISOString(), by: 'cli' },
    });
  });

  test('rotate refuses a grace period shorter than the minimum, and changes nothing', async () => {
    const keys = service();
    await keys.init();
    await expect(keys.rotate({ grace: minimumGraceMs - 1 }, { user: 'cli' })).rejects.toThrow(RangeError);
    expect(await store.keys.list()).toHaveLength(1);
    await keys.rotate({ grace: minimumGraceMs }, { user: 'cli' });
    expect(await store.keys.list()).toHaveLength(2);
  });

  test('rotate on a store that never had a key creates the active one', async () => {
    const rotation = await service().rotate({}, { user: 'cli' });
    expect(rotation.retired).toEqual([]);
    const keys = service();
    await keys.init();
    expect(keys.active.kid).toBe(rotation.kid);
    expect(await store.keys.list()).toHaveLength(1);
  });

  test('a failed refresh keeps signing with the last key loaded', async () => {
    const keys = service();
    await keys.init();
    const kid = keys.active.kid;
    store.keys.list = () => Promise.reject(new Error('store down'));
    await expect(keys.refresh()).rejects.toThrow('store down');
    expect(keys.active.kid).toBe(kid);
    expect(await verifies(keys)).toBe(kid);
  });

  test('an active key that does not open under the master key stops init; a retired one is only left unpublished', async () => {
    const keys = service();
    await keys.init();
    const old = keys.active.kid;
    const wrongMaster = service(keyringOf(keyB));
    await expect(wrongMaster.init()).rejects.toThrow(/master key/);

    // The retired key is re-sealed under a master key the gateway does not hold (as if altered).
    await keys.rotate({}, { user: 'cli' });
    const [retired] = (await store.keys.listSealed()).filter((e) => e.id === old);
    const plaintext = open(keyringOf(keyA), retired!.aad, retired!.sealed);
    expect(await store.keys.replaceSealed(old, retired!.sealed, seal(keyringOf(keyB), retired!.aad, plaintext, cryptoRandom))).toBe(true);
    const fresh = service();
    await fresh.init();
    expect(kids(fresh.published)).toEqual([fresh.active.kid]);
    await fresh.refresh();
    expect(logLines.filter((l) => l.includes('a retired signing key cannot be opened'))).toHaveLength(1);
  });

  test('master-key rotation: a key re-sealed under the new master key keeps its kid and keeps signing', async () => {
    await service(keyringOf(keyA)).init();
    // SPEC §7: the new master key first, the old one after it; gateways restarted with both.
    const both = keyringOf(keyB, keyA);
    const keys = service(both);
    await keys.init();
    const kid = keys.active.kid;
    const before = keys.published.body;
    // What `secret rotate-master-key` does with every Resealable: open under any key, seal under the first.
    for (const entry of await store.keys.listSealed()) {
      expect(await store.keys.replaceSealed(entry.id, entry.sealed, seal(both, entry.aad, open(both, entry.aad, entry.sealed), cryptoRandom))).toBe(true);
    }
    await keys.refresh();
    expect(keys.active.kid).toBe(kid);
    expect(keys.published.body).toBe(before);
    const onlyNew = service(keyringOf(keyB));
    await onlyNew.init();
    expect(onlyNew.active.kid).toBe(kid);
    expect(await verifies(onlyNew, keys.published)).toBe(kid);
  });

  test('a row written into the database without the master key is never published', async () => {
    const keys = service();
    await keys.init();
    const raw = (await import('better-sqlite3')).default(join(dir, 'g.db'));
    try {
      raw.prepare('INSERT INTO signing_keys (kid, sealed_private_key, created_at, retired_at, published_until) VALUES (?, ?, ?, ?, ?)')
        .run('attacker-kid', 'v1.0011223344556677.bm9uY2U.Y3Q.dGFn', 1, 2, clock.now() + defaultGraceMs);
    } finally {
      raw.close();
    }
    await keys.refresh();
    expect(kids(keys.published)).toEqual([keys.active.kid]);
  });

  test('processes starting at once on a fresh store end with one key, which all of them use', async () => {
    const config = join(dir, 'race.yaml');
    writeFileSync(join(dir, 'master.key'), `${keyA.toString('base64')}\n`);
    writeFileSync(config, 'store:\n  sqlite: ./race.db\nmasterKey: file:./master.key\n');
    const count = 4;
    const children = Array.from({ length: count }, () => startChild(config));
    await Promise.all(children.map((c) => c.next()));
    // Each child opens its services, then all call init() at the same instant.
    const startAt = Date.now() + 500;
    for (const child of children) child.send(`init ${startAt}`);
    const replies = await Promise.all(children.map((c) => c.next()));
    for (const reply of replies) expect(reply.error).toBeUndefined();
    expect(new Set(replies.map((r) => r.kid)).size).toBe(1);
    const raced = openSqliteStore(join(dir, 'race.db'));
    try {
      const stored = await raced.keys.list();
      expect(stored.map((k) => k.kid)).toEqual([replies[0]!.kid]);
    } finally {
      await raced.close();
    }
  }, 60_000);
});

interface Reply {
  ready?: boolean;
  kid?: string;
  error?: string;
}

/**
 * A separate Node process running openServices + SigningKeys.init from this TypeScript source through
 * Vite's module runner (as storage/sqlite/open-sqlite-store.test.ts does), so the processes really
 * contend for the SQLite file.
 */
const childScript = `
import { createInterface } from 'node:readline';
import { runnerImport } from 'vite';
const [servicesPath, loadPath, configFile] = process.argv.slice(1);
const { module: services } = await runnerImport(servicesPath, { configFile: false, logLevel: 'silent' });
const { module: load } = await runnerImport(loadPath, { configFile: false, logLevel: 'silent' });
const say = (reply) => process.stdout.write(JSON.stringify(reply) + '\\n');
const opened = await services.openServices(load.loadConfig(configFile).config, { env: {} });
say({ ready: true });
for await (const command of createInterface({ input: process.stdin })) {
  try {
    const startAt = Number(command.split(' ')[1]);
    while (Date.now() < startAt) {}
    await opened.signingKeys.init();
    say({ kid: opened.signingKeys.active.kid });
  } catch (error) {
    say({ error: error.message });
  }
  break;
}
await opened.close();
process.exit(0);
`;

function startChild(configFile: string): { send(line: string): void; next(): Promise<Reply> } {
  const servicesPath = fileURLToPath(new URL('../app/open-services.ts', import.meta.url));
  const loadPath = fileURLToPath(new URL('../config/load.ts', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e', childScript, servicesPath, loadPath, configFile], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    send: (line) => child.stdin.write(`${line}\n`),
    async next() {
      const { value, done } = await replies.next();
      if (done) throw new Error(`child ended early: ${stderr}`);
      return JSON.parse(value as string) as Reply;
    },
  };
}
