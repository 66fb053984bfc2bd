/**
 * Contender E: express 5 + express-session + http-proxy-middleware 3, the usual hand-rolled
 * "session in front of an API" stack. express-session's default MemoryStore holds one session,
 * created before the server starts (as after a login); its signed cookie is what the load generator
 * sends. Per request: express-session loads the session from the store, a middleware refuses (401)
 * a request without `user`, then http-proxy-middleware (mounted at /api, so /api/<rest> → upstream
 * /<rest>) forwards it with the cookie and CSRF headers removed and the bearer added, through a
 * keep-alive agent with unlimited sockets (the same connection policy as A's undici Pool; without
 * an agent, http-proxy sends `Connection: close` upstream).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import express from 'express';
import session from 'express-session';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { benchSecret, cookieName, serveAsChild } from '../lib/child.mjs';

const upstream = process.env.BENCH_UPSTREAM;
const sessionSecret = randomBytes(32).toString('base64url');
const bearer = `Bearer ${benchSecret}`;
const store = new session.MemoryStore();
const sid = randomBytes(24).toString('base64url');
await new Promise((resolve, reject) => store.set(sid, { cookie: { originalMaxAge: null, httpOnly: true, path: '/' }, user: 'bench' }, (error) => (error ? reject(error) : resolve())));
// express-session's cookie: `s:` + the id signed as cookie-signature does (HMAC-SHA256, base64 without padding).
const signed = `s:${sid}.${createHmac('sha256', sessionSecret).update(sid).digest('base64').replace(/=+$/, '')}`;
const cookie = `${cookieName}=${encodeURIComponent(signed)}`;

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(session({ name: cookieName, secret: sessionSecret, store, resave: false, saveUninitialized: false }));
app.use((req, res, next) => {
  if (!req.session.user) res.status(401).end();
  else next();
});
app.use('/api', createProxyMiddleware({
  target: upstream,
  agent,
  on: {
    proxyReq: (proxyReq) => {
      proxyReq.removeHeader('cookie');
      proxyReq.removeHeader('x-csrf');
      proxyReq.setHeader('authorization', bearer);
    },
  },
}));

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  serveAsChild({ url: `http://127.0.0.1:${port}`, cookie }, async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve()));
    agent.destroy();
  });
});
server.keepAliveTimeout = 60_000;
