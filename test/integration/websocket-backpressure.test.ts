import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RawData, WebSocket } from 'ws';
import { sleep } from '../helpers/attack.js';
import { defaultRoutes, defaultUpstream } from '../helpers/gateway.js';
import { login } from '../helpers/http.js';
import { useGateway, type GatewayFixture } from '../helpers/lifecycle.js';
import { closed, openOrFail, startWebSocketUpstream, type TestWebSocketUpstream } from '../helpers/websocket.js';

/**
 * Backpressure of the WebSocket relay (issue 14; realtime/relay-flow.ts). ws's send() queues
 * without bound, so a fast sender and a reader that does not read would pile the whole stream up in
 * the gateway's memory. The gateway must stop reading the sender while the reader is behind (the
 * sender's own queue grows instead), deliver every byte in order once the reader reads again, and
 * drop a reader that takes nothing for the stall bound.
 *
 * What the gateway holds is measured from the sender: the bytes it has handed to its kernel
 * (sent − bufferedAmount). Beyond the gateway's own queue that includes the loopback sockets'
 * kernel buffers (a few MiB each way), so the bound asserted is far above them and far below the
 * stream (what an unbounded relay takes in: all of it).
 */

const messageSize = 256 * 1024;
const messageCount = 800; // 200 MiB
const streamBytes = messageSize * messageCount;
/** The most the gateway and the kernel buffers around it may take in while the reader is paused. */
const heldBound = 32 * 1024 * 1024;
/** The flooding peer keeps its own queue this short, so the test process does not hold the stream. */
const senderQueue = 4 * 1024 * 1024;
const pingIntervalMs = 250;

let wsUpstream: TestWebSocketUpstream;
beforeAll(async () => {
  wsUpstream = await startWebSocketUpstream();
});
afterAll(async () => {
  await wsUpstream.close();
});

function gatewayWith(stallTimeoutMs: number, pingIntervalMs?: number): GatewayFixture {
  return useGateway((upstream) => ({
    webSocketFlow: { stallTimeoutMs },
    ...(pingIntervalMs !== undefined ? { webSocketPingIntervalMs: pingIntervalMs } : {}),
    config: {
      upstreams: [defaultUpstream(upstream.url), { name: 'live', url: wsUpstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' }],
      routes: [{ path: '/ws/**', upstream: 'live', websocket: true, stripPrefix: '/ws' }, ...defaultRoutes],
    },
  }));
}

/** Message `seq`: its number, then a byte derived from it (never the secret's bytes). */
function messageFor(seq: number): Buffer {
  const message = Buffer.alloc(messageSize, 0x41 + (seq % 26));
  message.writeUInt32BE(seq, 0);
  return message;
}

interface Flood {
  /** Bytes the sender has handed to its kernel: what the far side has taken in, or the kernel holds. */
  handed(): number;
  readonly sent: number;
  stop(): void;
}

/** Sends the stream as fast as the peer takes it, keeping the sender's own queue under senderQueue. */
function flood(socket: WebSocket, count = messageCount): Flood {
  let sent = 0;
  let stopped = false;
  const pump = (): void => {
    while (!stopped && sent < count && socket.bufferedAmount < senderQueue) socket.send(messageFor(sent++), { binary: true });
    if (!stopped && sent < count) setTimeout(pump, 2);
  };
  pump();
  return {
    handed: () => sent * messageSize - socket.bufferedAmount,
    get sent() {
      return sent;
    },
    stop: () => {
      stopped = true;
    },
  };
}

/** Waits until the sender's progress stops (unchanged for 500 ms) or the whole stream is handed over. */
async function settled(sending: Flood, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let sameSince = Date.now();
  while (Date.now() < deadline) {
    const now = sending.handed();
    if (now >= streamBytes) return now;
    if (now !== last) {
      last = now;
      sameSince = Date.now();
    } else if (Date.now() - sameSince >= 500) return now;
    await sleep(50);
  }
  throw new Error('the sender never settled');
}

/** Resolves once `count` messages arrived, each the next in order and whole; rejects on the first that is not. */
function receiveAll(socket: WebSocket, count = messageCount): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    const onClose = (code: number): void => {
      reject(new Error(`the socket closed (${code}) after ${next} of ${count} messages`));
    };
    socket.once('close', onClose);
    const onMessage = (data: RawData): void => {
      const message = data as Buffer;
      const seq = next++;
      if (message.length !== messageSize || message.readUInt32BE(0) !== seq || message[4] !== 0x41 + (seq % 26) || message[messageSize - 1] !== 0x41 + (seq % 26)) {
        socket.off('message', onMessage);
        socket.off('close', onClose);
        reject(new Error(`message ${seq} arrived out of order or damaged (seq ${message.readUInt32BE(0)}, ${message.length} bytes)`));
        return;
      }
      if (next === count) {
        socket.off('message', onMessage);
        socket.off('close', onClose);
        resolve();
      }
    };
    socket.on('message', onMessage);
  });
}

/** The upstream socket of the relay just opened. */
async function upstreamSocket(): Promise<WebSocket> {
  for (let i = 0; i < 100 && wsUpstream.sockets.length === 0; i++) await sleep(10);
  const socket = wsUpstream.sockets[0];
  if (!socket) throw new Error('the upstream saw no socket');
  return socket;
}

const open: WebSocket[] = [];
afterEach(async () => {
  for (const socket of open.splice(0)) socket.terminate();
  wsUpstream.reset();
  await sleep(20);
});

describe('a reader that is behind stops the relay reading its sender', () => {
  // Pings every 250 ms: a browser that is not read (or is behind on reading) cannot answer them,
  // and must not be taken for a dead one while the relay holds back (the stall bound watches it).
  const env = gatewayWith(60_000, pingIntervalMs);
  let alice: string;
  beforeAll(async () => {
    alice = await login(env.gw.url);
  });

  it('upstream → browser: 200 MiB sent as fast as possible to a browser that does not read is held back at the upstream, then all of it arrives in order', async () => {
    wsUpstream.behave(() => undefined);
    const browser = await openOrFail(env.gw.url, '/ws/flood', { session: alice });
    open.push(browser);
    browser.pause();
    const upstream = await upstreamSocket();
    const sending = flood(upstream);

    const handed = await settled(sending);
    expect(handed).toBeLessThan(heldBound);
    // The upstream's own queue grew: the gateway stopped reading it.
    expect(upstream.bufferedAmount).toBeGreaterThan(0);

    // Held back for several ping intervals before the browser reads again.
    await sleep(3 * pingIntervalMs);
    const arrived = receiveAll(browser);
    browser.resume();
    await arrived;
    expect(sending.sent).toBe(messageCount);
  }, 60_000);

  it('browser → upstream: 200 MiB sent to an upstream that does not read is held back at the browser, then all of it arrives in order', async () => {
    wsUpstream.behave((socket) => socket.pause());
    const browser = await openOrFail(env.gw.url, '/ws/flood', { session: alice });
    open.push(browser);
    const upstream = await upstreamSocket();
    const sending = flood(browser);

    const handed = await settled(sending);
    expect(handed).toBeLessThan(heldBound);
    expect(browser.bufferedAmount).toBeGreaterThan(0);

    await sleep(3 * pingIntervalMs);
    const arrived = receiveAll(upstream);
    upstream.resume();
    await arrived;
    expect(sending.sent).toBe(messageCount);
    expect(browser.readyState).toBe(browser.OPEN);
  }, 60_000);
});

describe('a reader that takes nothing for the stall bound is dropped', () => {
  const stallTimeoutMs = 300;
  const env = gatewayWith(stallTimeoutMs);
  let alice: string;
  beforeAll(async () => {
    alice = await login(env.gw.url);
  });

  it('a browser that never reads: its socket is closed (1013) and the upstream gets 1001; the gateway lets go of both', async () => {
    wsUpstream.behave(() => undefined);
    const browser = await openOrFail(env.gw.url, '/ws/flood', { session: alice });
    open.push(browser);
    browser.pause();
    const upstream = await upstreamSocket();
    const upstreamClosed = closed(upstream, 10_000);
    const sending = flood(upstream);

    expect(await upstreamClosed).toEqual({ code: 1001, reason: '' });
    sending.stop();
    expect(env.gw.gateway.openConnections.handlesByUser().size).toBe(0);
    // The browser's close frame sits behind what it never read; the gateway drops the connection
    // after the close-handshake bound, so on resuming it reads what was queued and then the end.
    const browserClosed = closed(browser, 10_000);
    browser.resume();
    expect([1013, 1006]).toContain((await browserClosed).code);
  }, 30_000);

  it('an upstream that never reads: the browser gets 1013 "upstream too slow"', async () => {
    wsUpstream.behave((socket) => socket.pause());
    const browser = await openOrFail(env.gw.url, '/ws/flood', { session: alice });
    open.push(browser);
    await upstreamSocket();
    const browserClosed = closed(browser, 10_000);
    const sending = flood(browser);

    expect(await browserClosed).toEqual({ code: 1013, reason: 'upstream too slow' });
    sending.stop();
    expect(env.gw.gateway.openConnections.handlesByUser().size).toBe(0);
  }, 30_000);
});
