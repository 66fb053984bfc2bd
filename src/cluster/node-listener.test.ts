import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { cryptoRandom } from '../security/random.js';
import { until } from '../storage/contract/node-channel.contract.js';
import { LocalChannelHub } from './local-node-channel.js';
import { NodeListener } from './node-listener.js';
import { newNodeId } from './node-messages.js';

describe('NodeListener', () => {
  function setup() {
    const hub = new LocalChannelHub();
    const node = hub.channel(newNodeId(cryptoRandom));
    const cli = hub.channel(newNodeId(cryptoRandom));
    const refreshed: string[] = [];
    const listener = new NodeListener({
      channel: node,
      refresh: {
        secrets: async () => refreshed.push('secrets'),
        keys: async () => {
          refreshed.push('keys');
          throw new Error('store hiccup');
        },
        blocks: async () => refreshed.push('blocks'),
      },
      logger: silentLogger(),
    });
    return { hub, node, cli, refreshed, listener };
  }

  it('re-reads secrets, blocks or keys at once when told they changed; confirmations need nothing', async () => {
    const { cli, refreshed, listener } = setup();
    listener.start();
    await cli.publish({ type: 'changed', what: 'secrets' });
    await cli.publish({ type: 'changed', what: 'blocks' });
    await cli.publish({ type: 'confirmed', seq: 4, by: cli.nodeId });
    await cli.publish({ type: 'changed', what: 'keys' });
    // A failed re-read is logged, and the next message is still heard.
    await cli.publish({ type: 'changed', what: 'secrets' });
    await until(() => refreshed.length === 4, 'four re-reads');
    expect(refreshed).toEqual(['secrets', 'blocks', 'keys', 'secrets']);
  });

  it('records the highest revocation seq heard, whatever the order', async () => {
    const { cli, listener } = setup();
    listener.start();
    expect(listener.heardSeq).toBe(0);
    for (const seq of [3, 9, 5]) await cli.publish({ type: 'revoked', seq, scope: 'user', subject: 'alice' });
    await until(() => listener.heardSeq === 9, 'seq 9');
    await cli.publish({ type: 'revoked', seq: 10, scope: 'all' });
    await until(() => listener.heardSeq === 10, 'seq 10');
  });

  it('hears nothing once stopped', async () => {
    const { cli, refreshed, listener } = setup();
    listener.start();
    listener.stop();
    await cli.publish({ type: 'changed', what: 'secrets' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(refreshed).toEqual([]);
  });
});
