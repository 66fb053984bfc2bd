import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultRoutes, defaultUpstream } from '../helpers/gateway.js';
import { allCloseWithin1s, connectionHolder, heldKinds, type Held } from '../helpers/held-connection.js';
import { logoutClaims, postLogoutToken, providerSession, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';
import { liveUpstream, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * SPEC §10 with SPEC §9's back-channel logout: the provider ends the session, and its open event
 * stream or WebSocket is closed within 1 s (4401; decision 0014), while another user's stays open.
 * The upstreams keep each connection open until the gateway lets go. Ready means relayed end to end
 * (after the watch's first look at its session), so only the logout can end it.
 */
const ws = useWebSocketUpstream();
const ctx = useBackchannelWorld({
  target: false,
  config: (upstream) => ({
    upstreams: [defaultUpstream(upstream.url), liveUpstream(ws.upstream.url)],
    routes: [{ path: '/ws/**', upstream: 'live', websocket: true }, ...defaultRoutes],
  }),
});
const holder = connectionHolder({ streamPath: '/api/events', socketPath: '/ws/events', headers: { 'x-csrf': '1' } });
beforeAll(() => {
  ctx.world.upstream.handle(holder.handle);
});
afterEach(() => {
  holder.destroyAll();
});

describe.each(heldKinds)('back-channel logout: %s', (kind) => {
  const hold = (cookie: string): Promise<Held> => holder.open(kind, ctx.world.gw.url, cookie);

  it('closes the session\'s open connection within 1 s, and not another user\'s', async () => {
    const { world } = ctx;
    const other = await hold((await providerSession(world, 'sub-admin')).cookie);
    const target = await providerSession(world);
    const held = await hold(target.cookie);
    await allCloseWithin1s([held], async () => {
      const reply = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
      expect(reply.status).toBe(200);
    });
    await other.alive();
  });
});
