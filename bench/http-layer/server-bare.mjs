/**
 * Contender A, the ceiling: bare node:http + an undici Pool. Checks the session cookie against an
 * in-memory Map, drops the client's cookie/CSRF/hop-by-hop headers, adds the bearer credential
 * and streams the upstream response back with `pool.stream` (undici's cheapest API).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { benchSecret, cookieName, readCookie, serveAsChild } from '../lib/child.mjs';

const upstream = process.env.BENCH_UPSTREAM;
const token = randomBytes(32).toString('base64url');
const sessions = new Map([[token, { user: 'bench' }]]);
const bearer = `Bearer ${benchSecret}`;
const droppedRequest = new Set(['cookie', 'x-csrf', 'host', 'authorization', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const droppedResponse = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie']);
const pool = new Pool(upstream, { connections: null, pipelining: 1 });

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const session = sessions.get(readCookie(req.headers.cookie, cookieName) ?? '');
  if (!session || !req.url.startsWith('/api/')) {
    res.writeHead(session ? 404 : 401, { 'content-length': 0 });
    res.end();
    return;
  }
  const headers = {};
  for (const name in req.headers) if (!droppedRequest.has(name)) headers[name] = req.headers[name];
  headers.authorization = bearer;
  pool.stream({ path: req.url.slice(4), method: req.method, headers, body: null }, ({ statusCode, headers: upstreamHeaders }) => {
    const out = {};
    for (const name in upstreamHeaders) if (!droppedResponse.has(name)) out[name] = upstreamHeaders[name];
    res.writeHead(statusCode, out);
    return res;
  }).catch(() => {
    if (!res.headersSent) res.writeHead(502, { 'content-length': 0 });
    res.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  serveAsChild({ url: `http://127.0.0.1:${port}`, cookie: `${cookieName}=${token}` }, async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve()));
    await pool.close();
  });
});
