import { beforeAll, describe, expect, it } from 'vitest';
import { defaultRoutes, defaultUpstream } from '../helpers/gateway.js';
import { login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { liveUpstream, openSocket, useWebSocketUpstream } from '../helpers/websocket.js';

/**
 * Cross-Site WebSocket Hijacking (CSWSH; OWASP WebSocket Security Cheat Sheet): a page on another
 * site opens a WebSocket to the gateway; the browser attaches the user's cookie, and no X-CSRF can be
 * required of a WebSocket. SPEC §10: the upgrade's Origin must equal server.publicOrigin, and a
 * foreign one is refused before the upstream is contacted at all.
 */

const ws = useWebSocketUpstream({ reset: true });

const env = useGateway((upstream) => ({
  config: {
    upstreams: [defaultUpstream(upstream.url), liveUpstream(ws.upstream.url)],
    // csrf: false does not lift the Origin check of an upgrade.
    routes: [{ path: '/ws/**', upstream: 'live', websocket: true }, { path: '/ws-open/**', upstream: 'live', websocket: true, csrf: false }, ...defaultRoutes],
  },
}));

let alice: string;
beforeAll(async () => {
  alice = await login(env.gw.url);
});

describe('cross-site WebSocket hijacking', () => {
  it.each([
    ['another site', 'https://evil.example'],
    ['a sibling origin (other port)', 'http://localhost:8081'],
    ['the opaque origin of a sandboxed page', 'null'],
  ])('refuses a socket opened by %s with 403 csrf_rejected, and the upstream sees no connection', async (_name, origin) => {
    for (const path of ['/ws/feed', '/ws-open/feed']) {
      const opened = await openSocket(env.gw.url, path, { session: alice, origin, headers: { 'x-csrf': '1' } });
      expect(opened.kind).toBe('refused');
      if (opened.kind !== 'refused') return;
      expect(opened.status).toBe(403);
      expect(opened.body?.error?.code).toBe('csrf_rejected');
    }
    expect(ws.upstream.connections).toBe(0);
  });

  it('refuses a socket without an Origin', async () => {
    const opened = await openSocket(env.gw.url, '/ws/feed', { session: alice, origin: undefined as unknown as string });
    expect(opened.kind === 'refused' && opened.status).toBe(403);
    expect(ws.upstream.connections).toBe(0);
  });

  it('lets the same-origin page\'s socket through', async () => {
    const opened = await openSocket(env.gw.url, '/ws/feed', { session: alice });
    expect(opened.kind).toBe('open');
    if (opened.kind === 'open') opened.socket.terminate();
    expect(ws.upstream.handshakes).toHaveLength(1);
  });
});
