import { describeNodeChannelContract } from '../storage/contract/node-channel.contract.js';
import { cryptoRandom } from '../security/random.js';
import { LocalChannelHub } from './local-node-channel.js';
import { newNodeId } from './node-messages.js';

describeNodeChannelContract('in-process', async () => {
  const hub = new LocalChannelHub();
  const [a, b, c] = [0, 1, 2].map(() => hub.channel(newNodeId(cryptoRandom))) as [ReturnType<LocalChannelHub['channel']>, ReturnType<LocalChannelHub['channel']>, ReturnType<LocalChannelHub['channel']>];
  return {
    a,
    b,
    c,
    async inject(text) {
      hub.deliver(text);
    },
    async cleanup() {
      await Promise.all([a, b, c].map((channel) => channel.close()));
    },
  };
});
