import { afterAll, afterEach, beforeAll } from 'vitest';
import { startGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export interface GatewayFixture {
  readonly gw: TestGateway;
  readonly upstream: TestUpstream;
}

/**
 * Registers, in the calling file (or describe block), the usual lifecycle: beforeAll starts an
 * upstream and a gateway in front of it, afterAll closes both, and afterEach puts the upstream
 * back to its default handler and forgets what it saw. The returned object reads the values
 * through getters, so keep the object and read `fixture.gw` inside hooks and tests (not at
 * module level, before beforeAll ran). Options that need the upstream's address (more upstreams
 * on it, say) can be given as a function of the upstream, called once it listens.
 *
 * Vitest runs beforeAll hooks in registration order, so a beforeAll registered after this call
 * (a login, say) sees a running gateway.
 */
export type GatewaySetup = Omit<TestGatewayOptions, 'upstreamUrl'>;

export function useGateway(options: GatewaySetup | ((upstream: TestUpstream) => GatewaySetup) = {}): GatewayFixture {
  let upstream: TestUpstream | undefined;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    upstream = await startUpstream();
    const setup = typeof options === 'function' ? options(upstream) : options;
    gw = await startGateway({ ...setup, upstreamUrl: upstream.url });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });
  afterEach(() => {
    upstream?.handle(null);
    if (upstream) upstream.seen.length = 0;
  });
  return {
    get gw(): TestGateway {
      if (!gw) throw new Error('useGateway: the gateway is read before beforeAll started it');
      return gw;
    },
    get upstream(): TestUpstream {
      if (!upstream) throw new Error('useGateway: the upstream is read before beforeAll started it');
      return upstream;
    },
  };
}
