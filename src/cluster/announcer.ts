import type { Logger } from '../log/logger.js';
import type { NodeChannel } from './node-channel.js';
import type { NodeMessageBody } from './node-messages.js';

/** Tells the other processes; resolves either way (see `announcer`). */
export type Announce = (message: NodeMessageBody) => Promise<void>;

/**
 * Publishes on the channel, within its timeout, and never fails the caller: what is announced is
 * already committed to the store, which every process also reads (polling, the revocation log), so
 * a lost announcement only makes others learn it later. Logged by message type only.
 */
export function announcer(channel: NodeChannel, logger: Logger): Announce {
  return async (message) => {
    try {
      await channel.publish(message);
    } catch (error) {
      logger.warn({ message: message.type, err: { name: error instanceof Error ? error.name : 'Error' } }, 'could not announce a change to the other nodes; they will read it from the store');
    }
  };
}
