import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { NodeChannel } from '../../cluster/node-channel.js';
import { encodeNodeMessage, type NodeMessage, type NodeMessageBody } from '../../cluster/node-messages.js';

/** Three processes' channels on one backend, and a way to put raw text on it as an outsider would. */
export interface NodeChannelSubject {
  a: NodeChannel;
  b: NodeChannel;
  c: NodeChannel;
  /** Delivers `text` to every channel as it is, bypassing any encoding. */
  inject(text: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** Waits (real time, bounded) until `check` holds: delivery is asynchronous on every adapter. */
export async function until(check: () => boolean, what: string, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Every message shape there is, one of each. */
export const everyShape: readonly NodeMessageBody[] = [
  { type: 'revoked', seq: 1, scope: 'session', subject: 'Abc_def-1234' },
  { type: 'revoked', seq: 2, scope: 'user', subject: 'alice@example.org' },
  { type: 'revoked', seq: 3, scope: 'all' },
  { type: 'confirmed', seq: 3, by: 'bm9kZS1pZC1vZi1ibw' },
  { type: 'changed', what: 'secrets' },
  { type: 'changed', what: 'keys' },
  { type: 'changed', what: 'blocks' },
];

/** The behaviour every NodeChannel adapter must have (cluster/node-channel.ts). */
export function describeNodeChannelContract(name: string, factory: () => Promise<NodeChannelSubject>): void {
  describe(`${name}: NodeChannel contract`, () => {
    let subject: NodeChannelSubject;
    const heard = new Map<NodeChannel, NodeMessage[]>();

    beforeEach(async () => {
      subject = await factory();
      for (const channel of [subject.a, subject.b, subject.c]) {
        const list: NodeMessage[] = [];
        heard.set(channel, list);
        channel.subscribe((message) => list.push(message));
      }
      await until(() => subject.a.connected && subject.b.connected && subject.c.connected, 'all three connected');
    });
    afterEach(async () => {
      heard.clear();
      await subject.cleanup();
    });

    test('every shape reaches every other process as sent, with the sender\'s id; the sender does not hear itself', async () => {
      const { a, b, c } = subject;
      for (const message of everyShape) await a.publish(message);
      await until(() => heard.get(b)!.length === everyShape.length && heard.get(c)!.length === everyShape.length, 'b and c heard all');
      const expected = everyShape.map((message) => ({ ...message, from: a.nodeId }));
      expect(heard.get(b)).toEqual(expected);
      expect(heard.get(c)).toEqual(expected);
      // A later message from b arrives at a: whatever a published earlier had its chance to come back.
      await b.publish({ type: 'changed', what: 'keys' });
      await until(() => heard.get(a)!.length === 1, 'a heard b');
      expect(heard.get(a)).toEqual([{ type: 'changed', what: 'keys', from: b.nodeId }]);
    });

    test('processes have distinct ids; a message carrying a process\'s own id is ignored by it alone', async () => {
      const { a, b, c } = subject;
      expect(new Set([a.nodeId, b.nodeId, c.nodeId]).size).toBe(3);
      await subject.inject(encodeNodeMessage(b.nodeId, { type: 'changed', what: 'secrets' }));
      await until(() => heard.get(a)!.length === 1 && heard.get(c)!.length === 1, 'a and c heard it');
      await subject.inject(encodeNodeMessage(c.nodeId, { type: 'changed', what: 'blocks' }));
      await until(() => heard.get(a)!.length === 2 && heard.get(b)!.length === 1, 'a and b heard the second');
      expect(heard.get(b)).toEqual([{ type: 'changed', what: 'blocks', from: c.nodeId }]);
      expect(heard.get(c)).toEqual([{ type: 'changed', what: 'secrets', from: b.nodeId }]);
    });

    test('alive: heard by every process, the sender included (its proof the channel carries its messages), and the node is listed by aliveNodes on every process', async () => {
      const { a, b, c } = subject;
      await a.alive('node-alpha-1', 7);
      const expected = { type: 'alive', node: 'node-alpha-1', n: 7, from: a.nodeId };
      await until(() => [a, b, c].every((channel) => heard.get(channel)!.length === 1), 'all three heard it');
      for (const channel of [a, b, c]) expect(heard.get(channel)).toEqual([expected]);
      for (const channel of [a, b, c]) expect(await channel.aliveNodes()).toEqual(['node-alpha-1']);
    });

    test('malformed messages are dropped and counted, and the channel keeps working', async () => {
      const { a, b } = subject;
      const from = a.nodeId;
      const malformed = [
        'not json',
        '[]',
        'null',
        JSON.stringify({ v: 1, from, type: 'revoked', seq: 1, scope: 'session' }),
        JSON.stringify({ v: 1, from, type: 'revoked', seq: 1, scope: 'session', subject: 'a'.repeat(64).replace(/a$/, ':') }),
        JSON.stringify({ v: 1, from, type: 'revoked', seq: 0, scope: 'all' }),
        JSON.stringify({ v: 1, from, type: 'revoked', seq: 1.5, scope: 'all' }),
        JSON.stringify({ v: 1, from, type: 'revoked', seq: 1, scope: 'all', subject: 'alice' }),
        JSON.stringify({ v: 1, from, type: 'revoked', seq: 1, scope: 'everyone', subject: 'alice' }),
        JSON.stringify({ v: 1, from, type: 'confirmed', seq: 1 }),
        JSON.stringify({ v: 1, from, type: 'changed', what: 'users' }),
        JSON.stringify({ v: 1, from, type: 'changed', what: 'keys', extra: true }),
        JSON.stringify({ v: 1, from, type: 'hello' }),
        JSON.stringify({ v: 2, from, type: 'changed', what: 'keys' }),
        JSON.stringify({ v: 1, type: 'changed', what: 'keys' }),
        JSON.stringify({ v: 1, from: 'x', type: 'changed', what: 'keys' }),
        JSON.stringify({ v: 1, from, type: 'changed', what: 'keys', pad: 'p'.repeat(2_000) }),
      ];
      const before = b.malformed;
      for (const text of malformed) await subject.inject(text);
      await a.publish({ type: 'revoked', seq: 9, scope: 'user', subject: 'bob' });
      await until(() => heard.get(b)!.length === 1, 'b heard the valid one');
      await until(() => b.malformed - before === malformed.length, 'every malformed one counted');
      expect(heard.get(b)).toEqual([{ type: 'revoked', seq: 9, scope: 'user', subject: 'bob', from: a.nodeId }]);
      expect(heard.get(subject.c)).toHaveLength(1);
    });

    test('a listener that throws does not keep the message from the others; an unsubscribed one hears nothing more', async () => {
      const { a, b } = subject;
      const second: NodeMessage[] = [];
      b.subscribe(() => {
        throw new Error('a broken listener');
      });
      const stop = b.subscribe((message) => second.push(message));
      await a.publish({ type: 'changed', what: 'secrets' });
      await until(() => second.length === 1 && heard.get(b)!.length === 1, 'both working listeners heard it');
      stop();
      await a.publish({ type: 'changed', what: 'keys' });
      await until(() => heard.get(b)!.length === 2, 'the first listener heard the second message');
      expect(second).toHaveLength(1);
    });

    test('connected goes false on close, with the status listeners told; a closed channel refuses to publish', async () => {
      const { a } = subject;
      const seen: boolean[] = [];
      a.onStatus((connected) => seen.push(connected));
      expect(a.connected).toBe(true);
      await a.close();
      expect(a.connected).toBe(false);
      expect(seen).toEqual([false]);
      await expect(a.publish({ type: 'changed', what: 'keys' })).rejects.toThrow();
    });
  });
}
