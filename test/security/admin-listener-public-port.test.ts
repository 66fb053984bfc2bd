import { describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';
import { scrape } from '../helpers/metrics.js';

/**
 * Attack: read the operator's metrics from the public port (SPEC §11: `/metrics` on the admin
 * listener only; the public port answers 404). However the path is spelled, with or without a
 * session or a Host of the admin origin, the public port has nothing there.
 */

const env = useGateway({ config: { admin: { host: '127.0.0.1', port: 0 } } });

describe('/metrics is not on the public port', () => {
  it('answers 404 not_found there, by any spelling, while the admin listener serves it', async () => {
    for (const path of ['/metrics', '/metrics/', '/Metrics', '/./metrics', '/metrics?x=1', '//metrics']) {
      const reply = await call(env.gw.url, path);
      expect(reply.status, path).toBe(404);
      expect(reply.json(), path).toEqual({ error: { code: 'not_found', message: 'Nothing is here.' } });
      expect(reply.text).not.toContain('gatehouse_');
    }
    expect(env.gw.gateway.admin!.port).not.toBe(env.gw.gateway.port);
    expect((await scrape(env.gw.gateway.admin!.url)).text).toContain('# TYPE gatehouse_requests_total counter');
  });
});
