import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** A WebSocket client that completes the handshake and then never answers anything. */
export interface SilentPeer {
  socket: Socket;
  /** The 101's X-Request-Id (which process answered, with `server.workers`, is in the access log). */
  requestId: string;
  /** When the first close frame arrived (performance.now()), and its code; null while none has. */
  closeFrame(): { at: number; code: number } | null;
  /** When the gateway dropped the TCP connection (performance.now()); null while it is open. */
  droppedAt(): number | null;
}

/**
 * A hung or malicious browser on a raw TCP connection: it completes the WebSocket handshake, then
 * reads without ever answering — not a ping, not the close frame (RFC 6455 §5.5.1 asks it to).
 * Frames from the gateway are unmasked (RFC 6455 §5.1), so a close frame is 0x88, length, code.
 */
export async function silentPeer(base: string, path: string, session?: string): Promise<SilentPeer> {
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write([
    `GET ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    'Origin: http://localhost:8080',
    ...(session !== undefined ? [`Cookie: gatehouse=${session}`] : []),
    '', '',
  ].join('\r\n'));
  let frames = Buffer.alloc(0);
  let closeFrame: { at: number; code: number } | null = null;
  let droppedAt: number | null = null;
  socket.once('close', () => {
    droppedAt = performance.now();
  });
  const onFrames = (more: Buffer): void => {
    frames = Buffer.concat([frames, more]);
    const at = frames.indexOf(0x88);
    if (closeFrame === null && at !== -1 && frames.length >= at + 4) closeFrame = { at: performance.now(), code: frames.readUInt16BE(at + 2) };
  };
  const requestId = await new Promise<string>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 101')) return reject(new Error(`handshake refused: ${text.split('\r\n')[0]}`));
      socket.on('data', onFrames);
      if (head.length > end + 4) onFrames(head.subarray(end + 4));
      resolve(/^x-request-id: *(.+)$/im.exec(text)?.[1]?.trim() ?? '');
    };
    socket.on('data', onData);
  });
  return { socket, requestId, closeFrame: () => closeFrame, droppedAt: () => droppedAt };
}
