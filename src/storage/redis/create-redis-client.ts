import { createClient } from '@redis/client';

export interface RedisClientSettings {
  /** SPEC §8 `cache.redis`: redis:// or rediss:// (TLS). */
  url: string;
  /** SPEC §8 `cache.timeout`: a command without an answer by then fails, also one already sent. */
  timeoutMs: number;
  /** Connection trouble, reported as it happens (it is also what makes the commands fail). */
  onError?: (error: Error) => void;
}

/**
 * A node-redis client set up as decision 0003 measured and tested it: no offline queue (a command
 * while disconnected fails at once instead of waiting for a reconnection), a per-command timeout
 * that also covers a command already sent to a hung server (`rejectInFlight`), reconnection by
 * itself with a backoff capped at a second, and an 'error' listener (node-redis emits connection
 * trouble as 'error' events; an unheard one would end the process). The caller connects it
 * (`connect()` waits for the handshake, indefinitely while the server is frozen, so never on a
 * request's path) and closes it.
 */
export function createRedisClient(settings: RedisClientSettings) {
  const client = createClient({
    url: settings.url,
    disableOfflineQueue: true,
    commandOptions: { timeout: settings.timeoutMs, rejectInFlight: true },
    socket: {
      connectTimeout: 1_000,
      reconnectStrategy: (retries: number) => Math.min(25 * 2 ** retries, 1_000),
    },
  });
  client.on('error', settings.onError ?? (() => {}));
  return client;
}

export type RedisClient = ReturnType<typeof createRedisClient>;
