import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { waitForAudit } from '../helpers/attack.js';
import { beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { closed, nextMessage, openOrFail, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * User-token echo over a WebSocket (SPEC §9, §10): the upstream of a `user-token` route gets the
 * session's access token in its handshake, never the cookie; a message that reflects the token is
 * not delivered (close 1008, audited without the token).
 */
describe('a user-token WebSocket upstream', () => {
  let world: OidcWorld;
  const ws = useWebSocketUpstream();
  let session: string;
  let accessToken: string;

  beforeAll(async () => {
    world = await startOidcWorld({
      config: {
        upstreams: [{ name: 'live', url: ws.upstream.url, credential: { type: 'user-token', provider: 'corp' }, timeout: '2s' }],
        routes: [{ path: '/live/**', upstream: 'live', websocket: true }],
      },
    });
    session = (await finishJourney(world, await beginJourney(world, { login: 'sub-admin' }))).cookie!;
    const [live] = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.ada' });
    const record = await world.gw.gateway.services.store.oidc.getSession(live!.handle);
    accessToken = (JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(live!.handle), record!.sealedTokens).toString('utf8')) as { accessToken: string }).accessToken;
  });
  afterAll(async () => {
    await world?.close();
  });

  test('gets the user\'s access token in the handshake, and no cookie', async () => {
    const socket = await openOrFail(world.gw.url, '/live/feed', { session });
    socket.send('hi');
    expect((await nextMessage(socket)).data.toString()).toBe('hi');
    const seen = ws.upstream.handshakes.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${accessToken}`);
    expect(seen.headers.cookie).toBeUndefined();
    socket.terminate();
  });

  test('a message echoing the token is withheld: close 1008, audited without it', async () => {
    ws.upstream.behave((upstream, handshake) => {
      upstream.on('message', () => upstream.send(`you are ${String(handshake.headers.authorization)}`));
    });
    const socket = await openOrFail(world.gw.url, '/live/feed', { session });
    const delivered: Buffer[] = [];
    socket.on('message', (data: Buffer) => delivered.push(data));
    socket.send('who am i');
    expect((await closed(socket)).code).toBe(1008);
    expect(delivered).toHaveLength(0);
    const event = await waitForAudit(world.gw, 'secret_leak_blocked', (e) => e.detail.where === 'websocket');
    expect(JSON.stringify(event)).not.toContain(accessToken.slice(0, 12));
    expect(world.gw.logs()).not.toContain(accessToken.slice(0, 12));
  });
});
