import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { SeenRequest } from './upstream.js';

export interface SeenTlsRequest extends SeenRequest {
  /** The subject CN of the client certificate presented, if any. */
  clientCertificate: string | null;
}

export interface TlsUpstream {
  url: string;
  seen: SeenTlsRequest[];
  /** Handshakes the upstream refused (no or untrusted client certificate), with the reason. */
  refused: string[];
  close(): Promise<void>;
}

/**
 * A real HTTPS upstream on 127.0.0.1. With `clientCa` it demands a client certificate issued by
 * that CA (requestCert + rejectUnauthorized): anyone else fails the handshake. Answers 200 JSON.
 */
export async function startTlsUpstream(options: { cert: string; key: string; clientCa?: string }): Promise<TlsUpstream> {
  const seen: SeenTlsRequest[] = [];
  const refused: string[] = [];
  const server: Server = createServer({
    cert: readFileSync(options.cert),
    key: readFileSync(options.key),
    ...(options.clientCa ? { ca: readFileSync(options.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
  }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const cn = peer && 'subject' in peer && peer.subject ? peer.subject.CN ?? null : null;
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks), clientCertificate: Array.isArray(cn) ? cn.join(',') : cn });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  server.on('tlsClientError', (error: NodeJS.ErrnoException) => refused.push(error.code ?? error.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    seen,
    refused,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
