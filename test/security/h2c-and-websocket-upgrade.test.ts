import { beforeAll, describe, expect, it } from 'vitest';
import { login } from '../helpers/http.js';
import { rawErrorCode, rawExchange } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Upgrade smuggling (h2c smuggling, Bishop Fox 2020; WebSocket tunnelling): the client asks the
 * proxy to upgrade the connection; a proxy that forwards the Upgrade and then relays raw bytes has
 * given the client a tunnel to the upstream in which no request is checked. Gatehouse relays
 * WebSockets only on `websocket: true` routes, message by message (SPEC §10); every other upgrade
 * is refused with 400 bad_request, the connection closed, and Upgrade never reaches the upstream.
 */

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

const tunnelled = 'GET /api/admin/THROUGH-THE-TUNNEL HTTP/1.1\r\nHost: x\r\n\r\n';

function upgradeRequest(path: string, upgrade: string, extra: string[]): string {
  return [`GET ${path} HTTP/1.1`, 'Host: localhost:8080', `Cookie: gatehouse=${alice}`, 'X-CSRF: 1', `Upgrade: ${upgrade}`, ...extra].join('\r\n') + '\r\n\r\n';
}

describe('h2c and WebSocket upgrade smuggling', () => {
  it('an h2c upgrade is refused, the connection closed, and nothing is tunnelled', async () => {
    const reply = await rawExchange(env.gw.gateway.port, [
      upgradeRequest('/api/x', 'h2c', ['Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']),
      tunnelled,
    ], { gapMs: 50 });
    expect(reply.statuses).toHaveLength(1);
    expect(reply.statuses[0]).not.toBe(101);
    expect(reply.statuses[0]).toBeGreaterThanOrEqual(400);
    expect(reply.closed).toBe(true);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a WebSocket upgrade on a route without websocket: true is refused (400 bad_request) and never forwarded', async () => {
    const reply = await rawExchange(env.gw.gateway.port, [
      upgradeRequest('/api/socket', 'websocket', ['Origin: http://localhost:8080', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']),
      tunnelled,
    ], { gapMs: 50 });
    expect(reply.statuses).toEqual([400]);
    expect(rawErrorCode(reply.text)).toBe('bad_request');
    expect(reply.statuses).not.toContain(101);
    expect(reply.closed).toBe(true);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('an Upgrade header without "Connection: upgrade" is dropped before forwarding (hop-by-hop), with its settings', async () => {
    const reply = await rawExchange(env.gw.gateway.port, upgradeRequest('/api/x', 'h2c', ['HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA', 'Connection: close']));
    expect(reply.statuses).toEqual([200]);
    const seen = env.upstream.seen[0]!;
    expect(seen.headers.upgrade).toBeUndefined();
    expect(seen.headers['http2-settings']).toBeUndefined();
  });

  it('the HTTP/2 connection preface on the HTTP/1.1 port is refused', async () => {
    const reply = await rawExchange(env.gw.gateway.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(reply.statuses).toEqual([400]);
    expect(reply.closed).toBe(true);
    expect(env.upstream.seen).toHaveLength(0);
  });
});
