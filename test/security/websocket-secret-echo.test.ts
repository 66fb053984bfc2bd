import { beforeAll, describe, expect, it } from 'vitest';
import { waitForAudit } from '../helpers/attack.js';
import { defaultRoutes, defaultUpstream, SECRET } from '../helpers/gateway.js';
import { login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { closed, liveUpstream, nextMessage, openOrFail, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * Secret echo over a WebSocket (SPEC §10, like §4.4 for HTTP): a compromised or careless upstream
 * sends back the credential Gatehouse attached to its handshake. The message is not delivered: the
 * browser's socket is closed with 1008 and the event audited as secret_leak_blocked.
 */

const ws = useWebSocketUpstream({ reset: true });

const env = useGateway((upstream) => ({
  config: {
    upstreams: [defaultUpstream(upstream.url), liveUpstream(ws.upstream.url)],
    routes: [{ path: '/ws/**', upstream: 'live', websocket: true }, ...defaultRoutes],
  },
}));

let alice: string;
beforeAll(async () => {
  alice = await login(env.gw.url);
});

describe('secret echo over a WebSocket', () => {
  it.each([
    ['as text', (secret: string) => `{"debug":"Authorization: Bearer ${secret}"}`, false],
    ['inside a binary message', (secret: string) => Buffer.concat([Buffer.from([0, 1]), Buffer.from(secret), Buffer.from([2])]), true],
  ])('withholds a message carrying the secret %s: close 1008, audited', async (_name, message, binary) => {
    ws.upstream.behave((upstream, handshake) => {
      upstream.on('message', () => {
        const secret = String(handshake.headers.authorization).slice('Bearer '.length);
        upstream.send(message(secret), { binary });
      });
    });
    const socket = await openOrFail(env.gw.url, '/ws/x', { session: alice });
    const delivered: Buffer[] = [];
    socket.on('message', (data: Buffer) => delivered.push(data));
    socket.send('hello');
    expect((await closed(socket)).code).toBe(1008);
    expect(delivered).toHaveLength(0);
    const event = await waitForAudit(env.gw, 'secret_leak_blocked', (e) => e.detail?.where === 'websocket');
    expect(event.user).toBe('alice');
  });

  it('delivers messages without the secret', async () => {
    const socket = await openOrFail(env.gw.url, '/ws/x', { session: alice });
    socket.send('nothing secret');
    expect((await nextMessage(socket)).data.toString()).toBe('nothing secret');
    socket.terminate();
  });

  it('drops a close reason that carries the secret', async () => {
    ws.upstream.behave((upstream) => {
      upstream.on('message', () => upstream.close(4000, `bye ${SECRET}`));
    });
    const socket = await openOrFail(env.gw.url, '/ws/x', { session: alice });
    socket.send('x');
    expect(await closed(socket)).toEqual({ code: 4000, reason: '' });
  });
});
