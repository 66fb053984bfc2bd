/**
 * Contender B: fastify 5 + @fastify/reply-from doing A's job — session cookie checked against a
 * Map in an onRequest hook (401 otherwise), client cookie/CSRF header dropped, bearer added in
 * rewriteRequestHeaders. Request logging off, like A (fastify's default when no logger is given).
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';
import { Pool } from 'undici';
import { benchSecret, cookieName, readCookie, serveAsChild } from '../lib/child.mjs';

const upstream = process.env.BENCH_UPSTREAM;
const token = randomBytes(32).toString('base64url');
const sessions = new Map([[token, { user: 'bench' }]]);
const bearer = `Bearer ${benchSecret}`;

const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
// The same Pool settings as A and Gatehouse (reply-from would otherwise build an Agent).
await app.register(replyFrom, { base: upstream, undici: new Pool(upstream, { connections: null, pipelining: 1 }) });

app.decorateRequest('session', null);
app.addHook('onRequest', async (request, reply) => {
  const session = sessions.get(readCookie(request.headers.cookie, cookieName) ?? '');
  if (!session) return reply.code(401).send();
  request.session = session;
});

app.get('/api/*', (request, reply) => reply.from(request.url.slice(4), {
  rewriteRequestHeaders: (_request, headers) => {
    const { cookie, 'x-csrf': csrf, host, ...rest } = headers;
    rest.authorization = bearer;
    return rest;
  },
}));

const address = await app.listen({ host: '127.0.0.1', port: 0 });
serveAsChild({ url: address, cookie: `${cookieName}=${token}` }, () => app.close());
