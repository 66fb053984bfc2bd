/**
 * The WebSocket upstream of bench/websocket.mjs: a ws server on 127.0.0.1 that echoes every message
 * as it came (text or binary), in its own process so that it does not share the client's event loop.
 * Compression off, as the gateway's upstream client has it.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { serveAsChild } from '../lib/child.mjs';

const server = createServer((_req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });
wss.on('connection', (socket) => {
  socket.on('error', () => undefined);
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
serveAsChild({ url: `http://127.0.0.1:${server.address().port}` }, () => new Promise((resolve) => {
  for (const socket of wss.clients) socket.terminate();
  wss.close();
  server.close(() => resolve());
}));
