import { afterAll, beforeAll } from 'vitest';
import { useRedis } from '../../../test/helpers/redis.js';
import { describeCounterStoreContract, type CounterSubject } from '../contract/counter-store.contract.js';
import { createRedisClient, type RedisClient } from './create-redis-client.js';
import { RedisCounterStore } from './redis-counter-store.js';

/**
 * The contract suites on a real redis-server of the file's own (test/helpers/redis.ts). `store` and
 * `peer` are two clients, two connections, as two nodes would have; each test gets a prefix of its
 * own, so tests never see each other's keys.
 */
const redis = useRedis();
/** Generous: the machine is shared, and nothing here tests the timeout. */
const timeoutMs = 5_000;
let observer: RedisClient;
let tests = 0;

beforeAll(async () => {
  observer = createRedisClient({ url: redis.server.url, timeoutMs });
  await observer.connect();
});
afterAll(() => {
  observer.destroy();
});

async function connected(): Promise<RedisClient> {
  const client = createRedisClient({ url: redis.server.url, timeoutMs });
  await client.connect();
  return client;
}

describeCounterStoreContract('redis', async (): Promise<CounterSubject> => {
  const prefix = `gh:t${(tests += 1)}:`;
  const [first, second] = [await connected(), await connected()];
  const store = new RedisCounterStore({ client: first, prefix });
  return {
    store,
    peer: new RedisCounterStore({ client: second, prefix }),
    // What Redis holds for the key's window: MEMORY USAGE counts the key, its value and their
    // allocations (0 when there is no such key).
    async footprint(key) {
      return (await observer.memoryUsage(store.counterKey(key))) ?? 0;
    },
    async cleanup() {
      first.destroy();
      second.destroy();
    },
  };
});
