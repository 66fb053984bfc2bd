import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { openServices } from '../../src/app/open-services.js';
import { newNodeId } from '../../src/cluster/node-messages.js';
import { loadConfig } from '../../src/config/load.js';
import { sha256Hex } from '../../src/security/hash.js';
import { cryptoRandom } from '../../src/security/random.js';
import { createRedisClient, type RedisClient } from '../../src/storage/redis/create-redis-client.js';
import { RedisNodeChannel } from '../../src/storage/redis/redis-node-channel.js';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import type { Store } from '../../src/storage/store.js';
import { PASSWORD, SECRET, testServer } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Listening to the messages between nodes to get at sessions. The channel is Redis pub/sub (SPEC
 * §8): anyone who can reach Redis can SUBSCRIBE, and operators monitor it. No message may hold a
 * cookie value, a password, a secret, or a session's id hash (the store's lookup key and an
 * unsalted SHA-256 of the cookie, which ties a message to one live cookie). The attacker here
 * PSUBSCRIBEs to the prefix while users log in, log out, change passwords and are revoked, and a
 * secret is replaced; every message must name sessions by handle only.
 */
const redis = useRedis();
let upstream: TestUpstream;
let dir: string;
let gateway: Gateway;
let store: Store;
let client: RedisClient;
let attacker: ReturnType<typeof createClient>;
const heard: string[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-messages-'));
  writeFileSync(join(dir, 'gatehouse.yaml'), stringify({
    server: testServer,
    store: { sqlite: './gatehouse.db' },
    masterKey: 'file:./master.key',
    upstreams: [{ name: 'api', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' } }],
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
  }));
  const { config } = loadConfig(join(dir, 'gatehouse.yaml'));
  // The SQLite store with the Redis channel a PostgreSQL store would have: the messages are the same.
  client = createRedisClient({ url: redis.server.url, timeoutMs: 1_000 });
  await client.connect();
  store = { ...openSqliteStore(join(dir, 'gatehouse.db')), channel: new RedisNodeChannel({ client, prefix: 'atk:', nodeId: newNodeId(cryptoRandom), timeoutMs: 1_000 }) };
  attacker = createClient({ url: redis.server.url });
  await attacker.connect();
  await attacker.pSubscribe('atk:*', (text) => heard.push(text));
  const setup = await openServices(config, { createMasterKey: true, store });
  await setup.secrets.set('api-token', SECRET, { user: 'test' });
  for (const name of ['alice', 'bob']) await setup.accounts.add({ name, roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
  await setup.close();
  gateway = await createGateway({ config, store });
  await gateway.start();
});
afterAll(async () => {
  await gateway?.stop();
  await store?.channel.close();
  await store?.close();
  client?.destroy();
  attacker?.destroy();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an attacker listening on the node channel', () => {
  it('hears every revocation and change, and nothing that opens a session or reveals a secret', async () => {
    const base = gateway.url;
    const cookies: string[] = [];
    const remember = (cookie: string | null | undefined): string => {
      cookies.push(cookie!);
      return cookie!;
    };
    const first = remember(await login(base, 'alice'));
    expect((await call(base, '/api/x', { session: first })).status).toBe(200);
    expect((await call(base, '/auth/logout', { method: 'POST', session: first })).status).toBe(204);
    const second = remember(await login(base, 'alice'));
    remember(await login(base, 'alice'));
    const newPassword = 'a brand new long password';
    const changed = await call(base, '/auth/password', { method: 'POST', session: second, body: { currentPassword: PASSWORD, newPassword } });
    expect(changed.status).toBe(204);
    const rotated = remember(changed.cookie);
    remember(await login(base, 'alice', newPassword));
    expect((await call(base, '/auth/sessions/revoke-others', { method: 'POST', session: rotated })).status).toBe(204);
    remember(await login(base, 'bob'));
    await gateway.services.accounts.lock('bob', { user: 'test' });
    await gateway.services.sessions.revokeAll({ user: 'test' }, 'test');
    const replaced = 'a-replaced-upstream-secret-value';
    await gateway.services.secrets.set('api-token', replaced, { user: 'test' });

    await expect.poll(() => heard.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(6);
    const said = heard.join('\n');
    expect(said).toContain('"type":"revoked"');
    expect(said).toContain('"what":"secrets"');
    for (const value of [...cookies, ...cookies.map(sha256Hex), PASSWORD, newPassword, SECRET, replaced]) expect(said).not.toContain(value);
  });
});
