import { afterAll, beforeAll } from 'vitest';
import { startRedis, type TestRedis } from '../../scripts/servers/redis.mjs';

// The server itself is started by scripts/servers/redis.mjs, which the cluster example shares.
export { assertRedisInstalled, redisCommand, startRedis, type TestRedis } from '../../scripts/servers/redis.mjs';

/**
 * Registers, in the calling file, a server started beforeAll and removed afterAll (also when a test
 * failed). Read `.server` inside hooks and tests, not at module level.
 */
export function useRedis(): { readonly server: TestRedis } {
  let server: TestRedis | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    get server(): TestRedis {
      if (!server) throw new Error('useRedis: the server is read before beforeAll started it');
      return server;
    },
  };
}
