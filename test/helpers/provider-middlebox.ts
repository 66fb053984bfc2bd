import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as undiciRequest } from 'undici';

/**
 * A real HTTP proxy on 127.0.0.1 and a free port in front of the test provider, at the provider's
 * issuer address (startProvider's `issuer` option), as a TLS-terminating middlebox or a hostile
 * network would sit: it forwards every request to the provider as it came (Host included, so the
 * provider's discovery names the middlebox's address) and every answer back, except what a test
 * tells it to change.
 */
export interface ProviderMiddlebox {
  /** http://127.0.0.1:PORT: the issuer to give the provider and the gateway. */
  url: string;
  /** The provider's own origin, where requests go (set once the provider listens). */
  target: string;
  /** With `path` (the token endpoint's): each JSON answer's `id_token` becomes `idToken(original)`. */
  rewrite: { path: string; idToken: (original: string) => Promise<string> } | null;
  /** With `path`: answered here with `status` and no body, the provider not asked. */
  fail: { path: string; status: number } | null;
  /** The path of every request it received, in order. */
  paths: string[];
  close(): Promise<void>;
}

/** RFC 9110 §7.6.1: connection-specific fields a proxy does not forward (undici refuses most of them). */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

function forwardable(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

export async function startProviderMiddlebox(): Promise<ProviderMiddlebox> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const box: ProviderMiddlebox = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    target: '',
    rewrite: null,
    fail: null,
    paths: [],
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  async function relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', box.url).pathname;
    box.paths.push(path);
    if (box.fail?.path === path) {
      res.writeHead(box.fail.status).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const answer = await undiciRequest(`${box.target}${req.url ?? '/'}`, {
      method: req.method as 'GET',
      headers: forwardable(req.headers),
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    let body = Buffer.from(await answer.body.arrayBuffer());
    const headers = forwardable(answer.headers);
    const rewrite = box.rewrite;
    if (rewrite?.path === path && String(answer.headers['content-type']).startsWith('application/json')) {
      const json = JSON.parse(body.toString('utf8')) as { id_token?: unknown };
      if (typeof json.id_token === 'string') {
        json.id_token = await rewrite.idToken(json.id_token);
        body = Buffer.from(JSON.stringify(json));
        headers['content-length'] = String(body.length);
      }
    }
    res.writeHead(answer.statusCode, headers).end(body);
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    relay(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(error));
    });
  });
  return box;
}
