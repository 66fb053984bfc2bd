import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { silentLogger } from '../log/logger.js';
import { startAdminServer, type AdminHandler, type AdminServer } from './admin-server.js';
import { metricsHandler } from './metrics-handler.js';

const config = { host: '127.0.0.1', port: 0, publicOrigin: 'http://127.0.0.1:9090', allow: ['127.0.0.0/8'] };
let server: AdminServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function get(path: string, method = 'GET'): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const res = await request(`${server!.url}${path}`, { method: method as 'GET' });
  return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
}

describe('the admin listener routes to its handlers (SPEC §11)', () => {
  it('asks handlers in order until one answers; none: 404 not_found; a failing one: 500 internal_error', async () => {
    const asked: string[] = [];
    const first: AdminHandler = async (_req, res, ctx) => {
      asked.push(`first ${ctx.path}`);
      if (ctx.path !== '/one') return false;
      ctx.respond.json(res, 200, { from: 'first' }, { 'x-request-id': ctx.requestId });
      return true;
    };
    const second: AdminHandler = async (_req, res, ctx) => {
      asked.push(`second ${ctx.path}`);
      if (ctx.path === '/boom') throw new Error('handler bug');
      if (ctx.path !== '/two') return false;
      ctx.respond.json(res, 200, { from: 'second', ip: ctx.ip }, { 'x-request-id': ctx.requestId });
      return true;
    };
    server = await startAdminServer(config, [first, second], silentLogger());
    expect(JSON.parse((await get('/one')).text)).toEqual({ from: 'first' });
    expect(JSON.parse((await get('/two?x=1')).text)).toEqual({ from: 'second', ip: '127.0.0.1' });
    expect(asked).toEqual(['first /one', 'first /two', 'second /two']);
    const missing = await get('/three');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).error.code).toBe('not_found');
    expect(missing.headers['x-request-id']).toBeTruthy();
    const failed = await get('/boom');
    expect(failed.status).toBe(500);
    expect(failed.text).not.toContain('handler bug');
  });

  it('answers GET and HEAD on /metrics only, with the Prometheus content type', async () => {
    server = await startAdminServer(config, [metricsHandler({ contentType: 'text/plain; version=0.0.4; charset=utf-8', metrics: async () => 'x_total 1\n' })], silentLogger());
    const got = await get('/metrics');
    expect(got).toMatchObject({ status: 200, text: 'x_total 1\n' });
    expect(got.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(got.headers['cache-control']).toBe('no-store');
    expect((await get('/metrics', 'HEAD')).text).toBe('');
    const posted = await get('/metrics', 'POST');
    expect(posted.status).toBe(405);
    expect(posted.headers.allow).toBe('GET, HEAD');
  });
});
