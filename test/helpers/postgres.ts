import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type TestPostgres } from '../../scripts/servers/postgres.mjs';

// The server itself is started by scripts/servers/postgres.mjs, which the cluster example shares.
export { assertPostgresInstalled, startPostgres, type TestPostgres } from '../../scripts/servers/postgres.mjs';

/**
 * Registers, in the calling file, a server started beforeAll and removed afterAll (also when a test
 * failed). Read `.server` inside hooks and tests, not at module level.
 */
export function usePostgres(): { readonly server: TestPostgres } {
  let server: TestPostgres | undefined;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    get server(): TestPostgres {
      if (!server) throw new Error('usePostgres: the server is read before beforeAll started it');
      return server;
    },
  };
}
