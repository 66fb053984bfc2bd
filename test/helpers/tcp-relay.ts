import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpRelay {
  /** 127.0.0.1 and the relay's own port: what the node is configured with instead of the target's. */
  readonly host: string;
  readonly port: number;
  /**
   * A network partition as it usually looks: nothing is forwarded either way any more, and every
   * connection stays open (no FIN, no RST), so the node notices only by its own timeouts. New
   * connections are accepted and left silent too.
   */
  cut(): void;
  /** A partition that announces itself: every connection destroyed (RST), new ones refused. */
  reset(): void;
  /** Forwarding again: held bytes are dropped, connections cut meanwhile are closed, new ones forwarded. */
  restore(): void;
  /** Adds this much latency to every chunk from the target to the node (0: none). */
  delay(ms: number): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Cut while this pair was open: it is closed on restore (its protocol state is lost). */
  cut: boolean;
}

/**
 * A node:net pipe between a node and PostgreSQL or Redis (ENVIRONMENT.md: fault injection without
 * Docker), on a free port of 127.0.0.1, that can cut the link as a partition would.
 */
export async function startTcpRelay(target: { host?: string; port: number }): Promise<TcpRelay> {
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<Pair>();
  let state: 'open' | 'cut' | 'reset' = 'open';
  let latencyMs = 0;

  const server: Server = createServer((client) => {
    client.setNoDelay(true);
    client.on('error', () => {});
    if (state === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: null, cut: state === 'cut' };
    pairs.add(pair);
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (state === 'cut') return; // a black hole: accepted, never answered
    const upstream = connect({ host, port: target.port });
    pair.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      if (state === 'open' && !pair.cut) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const forward = (): void => {
        if (state === 'open' && !pair.cut && !client.destroyed) client.write(chunk);
      };
      // Timers of one duration fire in the order they were set: the chunks keep theirs.
      if (latencyMs > 0) setTimeout(forward, latencyMs);
      else forward();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no port');

  return {
    host: '127.0.0.1',
    port: address.port,
    cut() {
      state = 'cut';
      for (const pair of pairs) pair.cut = true;
    },
    reset() {
      state = 'reset';
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.upstream?.destroy();
      }
      pairs.clear();
    },
    restore() {
      for (const pair of pairs) {
        if (!pair.cut) continue;
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      state = 'open';
    },
    delay(ms: number) {
      latencyMs = ms;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
