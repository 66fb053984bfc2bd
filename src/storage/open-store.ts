import { redisUrlKind, resolveConnectionUrl } from '../config/connection-url.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { FallbackCounterStore } from '../rules/fallback-counter-store.js';
import { openPostgresStore } from './postgres/open-postgres-store.js';
import { createRedisClient } from './redis/create-redis-client.js';
import { RedisCounterStore } from './redis/redis-counter-store.js';
import { RedisNodeChannel } from './redis/redis-node-channel.js';
import { newNodeId } from '../cluster/node-messages.js';
import { cryptoRandom } from '../security/random.js';
import { openSqliteStore } from './sqlite/open-sqlite-store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** Where `env:VARNAME` sources are read (only config/ reads process.env). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/**
 * The store the configuration names (SPEC §8): one SQLite file, or PostgreSQL for what must last
 * with Redis for the counters all nodes share and the messages between them (one command
 * connection for both; the channel adds a subscriber connection once something listens). The Redis client connects in the background and is
 * never awaited: until it answers, and whenever it fails or hangs past `cache.timeout`, counters are
 * kept by this node alone (FallbackCounterStore) and `/readyz` says the cache is down.
 */
export async function openStore(config: GatewayConfig, options: OpenStoreOptions): Promise<Store> {
  if ('sqlite' in config.store) return openSqliteStore(config.store.sqlite);
  const cache = config.cache;
  // The schema refuses store.postgres without cache; this is the type system's view of it.
  if (!cache) throw new Error('store.postgres needs cache.redis');
  const durable = await openPostgresStore(config.store, options);
  const { logger } = options;
  // Errors are logged by code only: a message could carry what the URL holds.
  const client = createRedisClient({
    url: resolveConnectionUrl(cache.redis, redisUrlKind, options.env),
    timeoutMs: cache.timeout,
    onError: (error) => logger.debug({ err: { code: (error as NodeJS.ErrnoException).code ?? error.name } }, 'redis connection trouble'),
  });
  client.connect().catch(() => {});
  const counters = new FallbackCounterStore({
    shared: new RedisCounterStore({ client, prefix: cache.prefix }),
    onChange: ({ degraded }) => {
      if (degraded) logger.warn('redis unavailable: rate rules and login throttling are counted by this node alone');
      else logger.info('redis answers again: counters are shared');
    },
  });
  const channel = new RedisNodeChannel({ client, prefix: cache.prefix, nodeId: newNodeId(cryptoRandom), timeoutMs: cache.timeout });
  return {
    ...durable,
    counters,
    channel,
    async pingCache() {
      await client.ping();
    },
    async close() {
      await channel.close();
      client.destroy();
      await durable.close();
    },
  };
}
