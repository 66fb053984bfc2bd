import { once } from 'node:events';
import { createServer } from 'node:net';

/** A loopback port free right now (the server that takes it is started next, and may lose a race: callers retry). */
export async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}
