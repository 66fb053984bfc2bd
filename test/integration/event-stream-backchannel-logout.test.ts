import { afterEach, describe, expect, it } from 'vitest';
import { EventStreamClient } from '../helpers/event-stream.js';
import { logoutClaims, postLogoutToken, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * SPEC §10 with SPEC §9's back-channel logout: the provider ends the session, and its open event
 * stream is closed within 1 s (decision 0014). The upstream keeps the stream open until the gateway
 * lets go.
 */
const ctx = useBackchannelWorld();
const clients: EventStreamClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

describe('back-channel logout', () => {
  it('closes the session\'s open event stream within 1 s', async () => {
    const { world, target } = ctx;
    world.upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: open\n\n');
    });
    const stream = new EventStreamClient(`${world.gw.url}/api/events`, { session: target.cookie, headers: { 'x-csrf': '1' } });
    clients.push(stream);
    expect(await stream.event(1)).toBe('data: open');
    // Past the watch's first look at the new connection's session: only the logout can end it now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = performance.now();
    const reply = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(reply.status).toBe(200);
    await stream.closed(Math.max(0, 1000 - (performance.now() - started))).catch(() => {
      throw new Error('the event stream was still open 1 s after the back-channel logout');
    });
  });
});
