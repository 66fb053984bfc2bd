import { createReadStream, realpathSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from './context.js';
import type { Endpoint } from './endpoint.js';
import { unrestricted } from './endpoint.js';
import type { Responder } from './respond.js';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The site's pages may run only the site's own scripts: an injected inline script cannot run, and
 * the site cannot be framed (clickjacking). The session cookie is HttpOnly anyway; this protects the
 * data the pages show.
 */
const htmlPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/**
 * Serves the website at / (SPEC §3 `static`). It is consulted only when no route and no Gatehouse
 * endpoint matched, so it never shadows /auth or /api. The path was normalised already; files are
 * resolved with realpath so a symlink cannot lead outside the folder.
 */
export class StaticSite {
  readonly #root: string;
  readonly #respond: Responder;

  constructor(root: string, respond: Responder) {
    this.#root = realpathSync(root);
    this.#respond = respond;
  }

  /** The file a normalised path maps to, or null. */
  async resolve(path: string): Promise<string | null> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return null;
    }
    if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').some((s) => s === '..' || s.startsWith('.') && s.length > 1)) return null;
    let file = join(this.#root, decoded);
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      if (!info.isFile()) return null;
      const real = await realpath(file);
      return real.startsWith(this.#root + sep) ? real : null;
    } catch {
      return null;
    }
  }

  endpoint(file: string): Endpoint {
    return {
      id: 'static',
      methods: new Set(['GET', 'HEAD']),
      access: 'public',
      allows: unrestricted,
      csrf: false,
      touches: false,
      roles: null,
      mfa: false,
      handle: (ctx) => this.#serve(ctx, file),
    };
  }

  async #serve(ctx: RequestContext, file: string): Promise<void> {
    const info = await stat(file);
    const type = contentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const headers: Record<string, string | number> = { ...this.#respond.base, 'content-type': type, 'content-length': info.size };
    if (type.startsWith('text/html')) {
      headers['content-security-policy'] = htmlPolicy;
      headers['x-frame-options'] = 'DENY';
    }
    ctx.res.writeHead(200, headers);
    if (ctx.method === 'HEAD') {
      ctx.res.end();
      return;
    }
    await pipeline(createReadStream(file), ctx.res);
  }
}
