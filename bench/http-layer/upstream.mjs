/**
 * The upstream every contender forwards to: node:http answering a fixed ~200 B JSON document (or
 * one padded to BENCH_BODY_BYTES),
 * and 401 without the bearer token (so a contender that fails to attach it shows up as non-2xx
 * responses in wrk's report instead of as a fast wrong answer). `/unavailable` answers 503, so a
 * bench can prove that a rate rule counting 5xx responses is live (bench/run.mjs); no benchmarked
 * request goes there. The parent may ask `{ type: 'accept', bearer }` to accept one more bearer:
 * the user's access token that a contender with a `user-token` credential sends (bench/run.mjs, GU).
 */
import { createServer } from 'node:http';
import { benchSecret, serveAsChild } from '../lib/child.mjs';

const expected = `Bearer ${benchSecret}`;
const accepted = new Set([expected]);
const document = {
  items: [
    { id: 1, name: 'alpha', price: 12.5, tags: ['a', 'b'] },
    { id: 2, name: 'bravo', price: 7.25, tags: ['c'] },
    { id: 3, name: 'charlie', price: 3.0, tags: [] },
  ],
  page: 1,
  total: 3,
  generatedBy: 'gatehouse-bench-upstream',
};
// BENCH_BODY_BYTES (e.g. 65536): the same document padded with a `padding` string to exactly that size.
const size = Number(process.env.BENCH_BODY_BYTES ?? 0);
const small = JSON.stringify(document);
const body = Buffer.from(size > small.length + 20
  ? JSON.stringify({ ...document, padding: 'x'.repeat(size - JSON.stringify({ ...document, padding: '' }).length) })
  : small);

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  if (!accepted.has(req.headers.authorization)) {
    res.writeHead(401, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
    return;
  }
  if (req.url === '/unavailable') {
    res.writeHead(503, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  // `headers`: what a client loading the upstream directly sends (bench/run.mjs, contender U).
  serveAsChild({ url: `http://127.0.0.1:${port}`, bodyBytes: body.length, headers: { Authorization: expected } }, () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }), {
    accept: ({ bearer }) => {
      accepted.add(`Bearer ${bearer}`);
      return {};
    },
  });
});
