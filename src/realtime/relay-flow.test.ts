import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { MessageFlow } from './relay-flow.js';

/**
 * MessageFlow on real ws sockets over 127.0.0.1: `to` is a server-side socket whose client (the
 * reader) reads when told; `from` is another connection, only paused and resumed.
 */

const messageSize = 512 * 1024;
const stallTimeoutMs = 400;

interface Pair {
  server: WebSocket;
  wire: Duplex;
  client: WebSocket;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function pairs(count: number): Promise<Pair[]> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 2 * messageSize });
  const accepted: Array<{ socket: WebSocket; wire: Duplex }> = [];
  wss.on('connection', (socket, req) => accepted.push({ socket, wire: req.socket }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 2 * messageSize });
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('open', () => resolve()));
    clients.push(client);
  }
  while (accepted.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
  cleanups.push(() => {
    for (const client of clients) client.terminate();
    wss.close();
    http.closeAllConnections();
    http.close();
  });
  return clients.map((client, i) => ({ client, server: accepted[i]!.socket, wire: accepted[i]!.wire }));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Forwards `count` messages, one per tick, as the relay does for messages of separate reads (those
 * of one read are written together, so they leave together).
 */
async function forwardMany(flow: MessageFlow, count: number, fill: number, options: { untilPaused?: boolean } = {}): Promise<void> {
  for (let i = 0; i < count && !(options.untilPaused && flow.paused); i++) {
    flow.forward(Buffer.alloc(messageSize, fill), true);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('MessageFlow', () => {
  it('pauses the source when the destination is over the mark, and reports a destination that takes nothing for the bound, once', async () => {
    const [destination, source] = await pairs(2);
    let stalls = 0;
    const flow = new MessageFlow(source!.server, destination!.server, destination!.wire, { highWaterMark: 1024 * 1024, stallTimeoutMs }, () => {
      stalls++;
    });
    destination!.client.pause();
    await forwardMany(flow, 64, 0x61, { untilPaused: true });
    expect(flow.paused).toBe(true);
    expect(flow.pauses).toBe(1);
    // What the gateway holds: the mark and the message that crossed it.
    expect(destination!.server.bufferedAmount).toBeLessThanOrEqual(1024 * 1024 + messageSize + 64);
    await sleep(stallTimeoutMs * 3);
    expect(stalls).toBe(1);
  });

  it('does not report a destination that keeps taking what is sent, however long the stream', async () => {
    const [destination, source] = await pairs(2);
    let stalls = 0;
    const flow = new MessageFlow(source!.server, destination!.server, destination!.wire, { highWaterMark: 1024 * 1024, stallTimeoutMs }, () => {
      stalls++;
    });
    let read = 0;
    destination!.client.on('message', () => read++);
    const started = Date.now();
    // A source that honours the pause, as ws does once the relay pauses it.
    while (Date.now() - started < stallTimeoutMs * 4) {
      while (flow.paused) await sleep(1);
      await forwardMany(flow, 4, 0x64);
    }
    expect(read).toBeGreaterThan(0);
    expect(stalls).toBe(0);
  });

  it('resumes the source once what was queued has been written, and stop() resumes a paused one', async () => {
    const [destination, source] = await pairs(2);
    const flow = new MessageFlow(source!.server, destination!.server, destination!.wire, { highWaterMark: 1024 * 1024, stallTimeoutMs: 60_000 }, () => undefined);
    destination!.client.pause();
    await forwardMany(flow, 64, 0x62);
    expect(flow.paused).toBe(true);
    const all = new Promise<void>((resolve) => {
      let left = 64;
      destination!.client.on('message', () => {
        if (--left === 0) resolve();
      });
    });
    destination!.client.resume();
    await all;
    await sleep(20);
    expect(flow.paused).toBe(false);

    destination!.client.pause();
    await forwardMany(flow, 64, 0x63);
    expect(flow.paused).toBe(true);
    flow.stop();
    expect(flow.paused).toBe(false);
  });

  it('writes the messages forwarded in one tick together, after the tick', async () => {
    const [destination, source] = await pairs(2);
    const flow = new MessageFlow(source!.server, destination!.server, destination!.wire, { highWaterMark: 1024 * 1024, stallTimeoutMs: 60_000 }, () => undefined);
    const arrived: number[] = [];
    destination!.client.on('message', (data: Buffer) => arrived.push(data.readUInt32BE(0)));
    for (let i = 0; i < 100; i++) {
      const message = Buffer.alloc(8);
      message.writeUInt32BE(i, 0);
      flow.forward(message, true);
      // Held (corked) until the tick ends: nothing has reached the socket yet.
      expect(destination!.wire.writableCorked).toBe(1);
    }
    expect(flow.batching).toBe(true);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(destination!.wire.writableCorked).toBe(0);
    expect(flow.batching).toBe(false);
    while (arrived.length < 100) await sleep(5);
    expect(arrived).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
