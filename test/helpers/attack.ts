import { connect } from 'node:net';
import type { AuditEvent, AuditType } from '../../src/audit/audit-store.js';
import type { TestGateway } from './gateway.js';

/** What a raw exchange got back, and whether the gateway closed the connection itself. */
export interface RawExchange {
  /** Everything received, as latin-1 (byte for byte). */
  text: string;
  bytes: Buffer;
  /** True when the gateway ended the connection before our timeout did. */
  closed: boolean;
  /** The status code of every response on the connection, in order. */
  statuses: number[];
}

/**
 * Writes raw bytes to the gateway (undici and fetch normalise paths and refuse malformed framing,
 * so attacks on the parser need a bare socket). `data` may be a list of parts written `gapMs` apart.
 * Resolves when the gateway closes the connection or after `timeoutMs`.
 */
export function rawExchange(
  port: number,
  data: string | Buffer | readonly (string | Buffer)[],
  options: { timeoutMs?: number; gapMs?: number } = {},
): Promise<RawExchange> {
  const parts = typeof data === 'string' || Buffer.isBuffer(data) ? [data] : data;
  const timeoutMs = options.timeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const bytes = Buffer.concat(chunks);
      const text = bytes.toString('latin1');
      resolve({ text, bytes, closed, statuses: statusCodes(text) });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (error) => {
      if (chunks.length > 0) finish(true);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.gapMs) await sleep(options.gapMs);
        if (socket.destroyed) return;
        socket.write(part);
      }
    })();
  });
}

/**
 * Status codes of the HTTP/1.x status lines in a raw response stream (a status line may follow the
 * previous body directly, so it is not anchored to a line start).
 */
export function statusCodes(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
}

/** The JSON error code of the first response in a raw response stream. */
export function rawErrorCode(text: string): string | undefined {
  return /"error":\{"code":"([a-z_]+)"/.exec(text)?.[1];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Audit events of one type (newest first), read from the gateway's real store. */
export async function auditEvents(gw: TestGateway, type: AuditType): Promise<AuditEvent[]> {
  return (await gw.gateway.services.store.audit.recent(1000)).filter((e) => e.type === type);
}

/**
 * Waits for an audit event (some are written in the background, after the response) and returns
 * it; fails after `timeoutMs`.
 */
export async function waitForAudit(gw: TestGateway, type: AuditType, match: (e: AuditEvent) => boolean = () => true, timeoutMs = 2000): Promise<AuditEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await auditEvents(gw, type)).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no "${type}" audit event was written`);
    await sleep(20);
  }
}

/**
 * A raw HTTP/1.1 request head (CRLF line endings). `X-CSRF: 1` is sent with a session unless
 * `csrf: false`, and without one only when `csrf: true`.
 */
export function rawHead(requestLine: string, options: { session?: string; csrf?: boolean; headers?: readonly string[]; close?: boolean } = {}): string {
  const lines = [requestLine, 'Host: localhost:8080'];
  if (options.session !== undefined) lines.push(`Cookie: gatehouse=${options.session}`);
  if (options.csrf ?? options.session !== undefined) lines.push('X-CSRF: 1');
  lines.push(...(options.headers ?? []));
  if (options.close !== false) lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * The body of the first response in a raw exchange, with chunked framing removed (as much of it as
 * arrived, for a cut stream). Assumes a response with a body (not to HEAD, not 1xx/204/304).
 */
export function firstBody(bytes: Buffer): Buffer {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd === -1) return Buffer.alloc(0);
  const head = bytes.subarray(0, headEnd).toString('latin1').toLowerCase();
  let rest = bytes.subarray(headEnd + 4);
  if (!/\r\ntransfer-encoding: *chunked/.test(head)) {
    const length = /\r\ncontent-length: *(\d+)/.exec(head);
    return length ? rest.subarray(0, Number(length[1])) : rest;
  }
  const parts: Buffer[] = [];
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd === -1) break;
    const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    rest = rest.subarray(lineEnd + 2 + size + 2);
  }
  return Buffer.concat(parts);
}
