import { expect, it } from 'vitest';
import { PASSWORD, SECRET } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

const env = useGateway();

it('a full journey leaves no password, cookie, authorization or secret in the log', async () => {
  const cookies: string[] = [];
  const failed = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: 'wrong-but-long-password' } });
  expect(failed.status).toBe(401);
  const login = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD }, headers: { authorization: 'Bearer client-sent-token-123456' } });
  cookies.push(login.cookie!);
  await call(env.gw.url, `/api/things?api_key=query-token-987654`, { session: login.cookie! });
  env.upstream.handle((req, res) => {
    res.writeHead(200, { 'set-cookie': 'upstream-cookie-value-abc', 'x-echo': String(req.headers.authorization) });
    res.end(String(req.headers.authorization));
  });
  await call(env.gw.url, '/api/echo', { session: login.cookie! });
  env.upstream.handle(null);
  const changed = await call(env.gw.url, '/auth/password', { method: 'POST', session: login.cookie!, body: { currentPassword: PASSWORD, newPassword: 'the-new-password-xyz' } });
  cookies.push(changed.cookie!);
  await call(env.gw.url, '/auth/logout', { method: 'POST', session: changed.cookie! });
  await call(env.gw.url, '/api/things', { session: changed.cookie! });

  const logs = env.gw.logs();
  expect(logs.split('\n').filter(Boolean).length).toBeGreaterThan(8);
  for (const line of logs.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  for (const forbidden of [PASSWORD, 'wrong-but-long-password', 'the-new-password-xyz', SECRET, 'client-sent-token-123456', 'query-token-987654', 'upstream-cookie-value-abc', ...cookies]) {
    expect(logs, `log contains ${forbidden.slice(0, 4)}…`).not.toContain(forbidden);
  }
  expect(logs).toContain('"audit"');
  expect(logs).toContain('secret_leak_blocked');
});
