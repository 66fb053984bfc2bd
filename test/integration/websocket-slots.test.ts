import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { defaultRoutes, defaultUpstream, SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { poll } from '../helpers/processes.js';
import { closed, openOrFail, openSocket, useWebSocketUpstream, type TestWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10's per-session WebSocket limit is counted in the store (decision 0015): a slot taken at
 * the handshake must be released on every way a socket ends, or the session loses it until its
 * node leaves. Each case ends sockets one way and reads the store's slot table until it is empty.
 */

const liveUpstream = useWebSocketUpstream();
let wsUpstream: TestWebSocketUpstream;
beforeAll(() => {
  wsUpstream = liveUpstream.upstream;
});

const env = useGateway(() => ({
  webSocketPingIntervalMs: 250,
  users: [{ name: 'alice', roles: ['user'] }],
  config: {
    upstreams: [
      defaultUpstream('http://127.0.0.1:9'),
      { name: 'live', url: wsUpstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '2s' },
    ],
    routes: [
      { path: '/ws/**', upstream: 'live', websocket: true, stripPrefix: '/ws' },
      { path: '/ws-small/**', upstream: 'live', websocket: true, maxMessageSize: '1kb', stripPrefix: '/ws-small' },
      ...defaultRoutes,
    ],
  },
}));

const open: WebSocket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.terminate();
  wsUpstream.reset();
});

/** The slots in the store, read from the gateway's SQLite file on a connection of its own. */
function slots(): number {
  const db = new Database(join(env.gw.dir, 'gatehouse.db'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM connection_slots').pluck().get() as number;
  } finally {
    db.close();
  }
}

async function noSlotsLeft(): Promise<void> {
  await poll(async () => {
    const left = slots();
    if (left !== 0) throw new Error(`${left} slots still held`);
  });
}

async function openSome(session: string, path = '/ws/echo', count = 3): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = await openOrFail(env.gw.url, path, { session });
    open.push(socket);
    sockets.push(socket);
  }
  expect(slots()).toBe(count);
  return sockets;
}

describe('a WebSocket\'s slot is released on every way it ends (SPEC §10, decision 0015)', () => {
  it('the upstream refuses the handshake (502): no slot is kept', async () => {
    const session = await login(env.gw.url);
    for (let i = 0; i < 25; i++) {
      const opened = await openSocket(env.gw.url, '/ws/refuse', { session });
      expect(opened.kind === 'refused' ? opened.status : 'open').toBe(502);
    }
    expect(slots()).toBe(0);
    // Had each refusal kept its slot, the session would be at its limit.
    await openSome(session, '/ws/echo', 20);
  });

  it('the browser closes, or vanishes without a close frame', async () => {
    const session = await login(env.gw.url);
    const [first, second, third] = await openSome(session);
    first!.close(1000);
    second!.close(4000, 'bye');
    third!.terminate();
    await noSlotsLeft();
  });

  it('the upstream closes, or vanishes', async () => {
    const session = await login(env.gw.url);
    const sockets = await openSome(session);
    wsUpstream.sockets[0]!.close(1000);
    wsUpstream.sockets[1]!.close(4001, 'bye');
    wsUpstream.sockets[2]!.terminate();
    for (const socket of sockets) await closed(socket);
    await noSlotsLeft();
  });

  it('a message over maxMessageSize (1009) and an upstream message with the secret (1008)', async () => {
    const session = await login(env.gw.url);
    const [big] = await openSome(session, '/ws-small/x', 1);
    big!.send(Buffer.alloc(1025));
    expect((await closed(big!)).code).toBe(1009);
    wsUpstream.behave((upstream) => {
      upstream.on('message', () => upstream.send(`here is ${SECRET}`));
    });
    const [leaky] = await openSome(session, '/ws/echo', 1);
    leaky!.send('go');
    expect((await closed(leaky!)).code).toBe(1008);
    await noSlotsLeft();
  });

  it('the session ends (4401): its sockets close and their slots are freed', async () => {
    const session = await login(env.gw.url);
    const ends = (await openSome(session)).map((socket) => closed(socket));
    expect((await call(env.gw.url, '/auth/logout', { method: 'POST', session })).status).toBe(204);
    for (const end of ends) expect((await end).code).toBe(4401);
    await noSlotsLeft();
  });

  it('a browser that stops answering pings is terminated, and its slot freed', async () => {
    const session = await login(env.gw.url);
    const socket = await openOrFail(env.gw.url, '/ws/echo', { session, autoPong: false });
    open.push(socket);
    expect(slots()).toBe(1);
    expect((await closed(socket)).code).toBe(1006);
    await noSlotsLeft();
  });
});
