import { describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Attack: reach the admin listener from an address outside `admin.allow` (SPEC §11: others get
 * 403 ip_blocked). The listener is on 127.0.0.1 and admits only 10.0.0.0/8 and ::1, so this test's
 * own connections are outside it; an X-Forwarded-For claiming an admitted address does not help
 * (the admin listener believes only the socket), nor does any path.
 */

const env = useGateway({ config: { server: { trustedProxies: ['127.0.0.1/32'] }, admin: { host: '127.0.0.1', port: 0, allow: ['10.0.0.0/8', '::1/128'] } } });

describe('a client outside admin.allow', () => {
  it('gets 403 ip_blocked with the registry body on every path, whatever it claims', async () => {
    const admin = env.gw.gateway.admin!.url;
    for (const [path, headers] of [['/metrics', {}], ['/metrics', { 'x-forwarded-for': '10.1.2.3' }], ['/', {}], ['/nothing', { 'x-real-ip': '10.1.2.3' }]] as const) {
      const reply = await call(admin, path, { headers });
      expect(reply.status, path).toBe(403);
      expect(reply.json()).toEqual({ error: { code: 'ip_blocked', message: 'Requests from your address are not allowed.' } });
      expect(reply.text).not.toContain('gatehouse_');
    }
  });
});
