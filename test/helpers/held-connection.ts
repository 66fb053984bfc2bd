import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect } from 'vitest';
import type { WebSocket } from 'ws';
import { EventStreamClient } from './event-stream.js';
import { nextMessage, openOrFail } from './websocket.js';

/** The two kinds of long-lived connection SPEC §10 closes when their session ends. */
export type HeldKind = 'event stream' | 'WebSocket';
export const heldKinds: readonly HeldKind[] = ['event stream', 'WebSocket'];

/** One open event stream or WebSocket through the gateway, held open by its upstream until the gateway lets go. */
export interface Held {
  readonly kind: HeldKind;
  /** Resolves once the gateway closed it (a WebSocket with 4401, SPEC §10); rejects after `timeoutMs`. */
  closed(timeoutMs: number): Promise<void>;
  /** Proves it still relays end to end: an event the upstream pushes now, or a message echoed. */
  alive(): Promise<void>;
  /**
   * Proves the gateway has not closed it, without counting as the session's activity (SPEC §10: a
   * browser's message does): an event the upstream pushes now, or the gateway's pong to a ping,
   * which it would not send after its close frame.
   */
  stillOpen(): Promise<void>;
  destroy(): void;
}

export interface HeldOptions {
  /** Gateway paths: an event stream route (its upstream answers with `holder.handle`), a WebSocket route to an echoing upstream. */
  streamPath: string;
  socketPath: string;
  /** Extra request headers of an event stream (X-CSRF on a route that checks it). */
  headers?: Record<string, string>;
  /** The Origin of a WebSocket handshake, the gateway's publicOrigin (SPEC §10), or a function of the base it opens at. */
  origin?: string | ((base: string) => string);
}

export interface Holder {
  /** The upstream's handler: a path containing `/events` streams until the gateway lets go, anything else answers `ok`. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Opens one and returns once it is ready: the first event relayed end to end, or the WebSocket
   * open (its 101 follows the upstream's). The gateway registers a connection, and its watch has
   * had its first look at the session (decision 0014), before either: from then on only a
   * revocation or an expiry ends it. `cookie` null: no session (a public route); `path` overrides
   * the kind's path.
   */
  open(kind: HeldKind, base: string, cookie: string | null, path?: string): Promise<Held>;
  /** Ends every connection opened so far (afterEach). */
  destroyAll(): void;
}

const holdParam = 'hold';

export function connectionHolder(options: HeldOptions): Holder {
  const upstreamSides = new Map<string, ServerResponse>();
  const opened: Held[] = [];

  async function openStream(base: string, cookie: string | null, path: string): Promise<Held> {
    const tag = randomUUID();
    const separator = path.includes('?') ? '&' : '?';
    const client = new EventStreamClient(`${base}${path}${separator}${holdParam}=${tag}`, { ...(cookie === null ? {} : { session: cookie }), ...(options.headers ? { headers: options.headers } : {}) });
    expect(await client.event(1)).toBe('data: open');
    const alive = async (): Promise<void> => {
      const upstreamSide = upstreamSides.get(tag);
      if (!upstreamSide) throw new Error('the upstream no longer holds the stream');
      const n = client.events.length + 1;
      upstreamSide.write(`data: alive ${n}\n\n`);
      expect(await client.event(n, 2000)).toBe(`data: alive ${n}`);
    };
    return {
      kind: 'event stream',
      closed: (timeoutMs) => client.closed(timeoutMs),
      alive,
      stillOpen: alive,
      destroy: () => client.destroy(),
    };
  }

  async function openWebSocket(base: string, cookie: string | null, path: string): Promise<Held> {
    const origin = typeof options.origin === 'function' ? options.origin(base) : options.origin;
    const socket: WebSocket = await openOrFail(base, path, { ...(cookie === null ? {} : { session: cookie }), ...(origin ? { origin } : {}) });
    // Listening from the open on, so that a close during the revoking action itself is seen.
    const closing = new Promise<number>((resolve) => socket.once('close', (code: number) => resolve(code)));
    let n = 0;
    return {
      kind: 'WebSocket',
      async closed(timeoutMs) {
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([
          closing,
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`the socket was not closed (waited ${Math.round(timeoutMs)} ms)`)), timeoutMs);
          }),
        ]).finally(() => clearTimeout(timer));
        expect(code, 'the close code of a socket whose session ended (SPEC §10)').toBe(4401);
      },
      async alive() {
        const text = `alive ${++n}`;
        const echoed = nextMessage(socket, 2000);
        socket.send(text);
        expect((await echoed).data.toString()).toBe(text);
      },
      stillOpen: () => new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no pong: the gateway closed the socket or stopped answering')), 2000);
        socket.once('pong', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.ping();
      }),
      destroy: () => socket.terminate(),
    };
  }

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://upstream');
      if (!url.pathname.includes('/events')) {
        res.end('ok');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: open\n\n');
      const tag = url.searchParams.get(holdParam);
      if (tag === null) return;
      upstreamSides.set(tag, res);
      res.on('close', () => upstreamSides.delete(tag));
    },
    async open(kind, base, cookie, path) {
      const held = kind === 'event stream' ? await openStream(base, cookie, path ?? options.streamPath) : await openWebSocket(base, cookie, path ?? options.socketPath);
      opened.push(held);
      return held;
    },
    destroyAll() {
      for (const held of opened.splice(0)) held.destroy();
    },
  };
}

/**
 * Runs `end` (the revoking action) and fails unless every one of `held` is closed by the gateway
 * within 1 s of its start (SPEC §10).
 */
export async function allCloseWithin1s(held: readonly Held[], end: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await end();
  for (const [i, connection] of held.entries()) {
    const left = Math.max(0, 1000 - (performance.now() - started));
    await connection.closed(left).catch((error: unknown) => {
      throw new Error(`${connection.kind} ${i + 1} of ${held.length} was still open 1 s after its session ended (the revoking action took ${Math.round(performance.now() - started - left)} ms itself): ${(error as Error).message}`);
    });
  }
  expect(performance.now() - started).toBeLessThan(1000);
}
