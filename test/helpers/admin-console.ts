import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminConsole } from '../../src/admin/console/create-admin-console.js';
import { canonicalIp } from '../../src/rules/address.js';
import type { TestGateway } from './gateway.js';
import { call, type Call, type Reply } from './http.js';
import { totpCode } from './totp.js';

export interface TestConsole {
  /** http://127.0.0.1:<port>, the admin publicOrigin. */
  url: string;
  close(): Promise<void>;
}

/**
 * The console mounted on a small listener of the test's own, as the admin listener (metrics'
 * src/admin/admin-server.ts) mounts its handlers: the socket address is the client, a request id per
 * request, and 404 for what no handler answers. The gateway's configuration must have an `admin` key.
 */
export async function startConsole(gw: TestGateway, port: number): Promise<TestConsole> {
  const admin = gw.gateway.services.config.admin;
  if (!admin) throw new Error('the test gateway has no admin key');
  const handler = createAdminConsole({ services: gw.gateway.services, admin });
  let n = 0;
  const server: Server = createServer((req, res) => {
    n += 1;
    handler(req, res, { ip: canonicalIp(req.socket.remoteAddress ?? ''), requestId: `admin-${n}` }).then((answered) => {
      if (!answered) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"not_found","message":"Nothing is here."}}');
      }
    }, (error: unknown) => {
      res.destroy(error as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The `admin` key for a console on `port` (allow: loopback, the default). */
export const adminKey = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ host: '127.0.0.1', port, publicOrigin: `http://127.0.0.1:${port}`, ...extra });

/** Enrols TOTP for `name` through the service the /auth/mfa endpoints use; returns the base32 secret. Moves the clock one step on, so the confirming code is not replayed at sign-in. */
export async function enrolTotp(gw: TestGateway, name: string): Promise<string> {
  const setup = await gw.gateway.services.totp.setup(name);
  if (setup === 'already_enabled') throw new Error('already enrolled');
  const confirmed = await gw.gateway.services.totp.confirm(name, totpCode(setup.secret, gw.clock.now()));
  if (confirmed === 'invalid_code') throw new Error('could not confirm TOTP');
  gw.clock.advance(30_000);
  return setup.secret;
}

/** A call to the console carrying its cookie (`gatehouse_admin`) instead of the public one. */
export function consoleCall(base: string, path: string, cookie: string | null, options: Call = {}): Promise<Reply> {
  const headers = { ...options.headers, ...(cookie !== null ? { cookie: `gatehouse_admin=${cookie}` } : {}) };
  return call(base, path, { ...options, headers });
}

/** Signs in at the console with password and TOTP code; returns the console cookie's value. */
export async function consoleSignIn(base: string, gw: TestGateway, name: string, secret: string, password = 'correct horse battery staple'): Promise<string> {
  const reply = await call(base, '/api/login', { method: 'POST', body: { username: name, password, code: totpCode(secret, gw.clock.now()) } });
  const set = reply.setCookie.find((c) => c.startsWith('gatehouse_admin='));
  if (reply.status !== 200 || !set) throw new Error(`console sign-in failed with ${reply.status}: ${reply.text}`);
  gw.clock.advance(30_000);
  return set.slice('gatehouse_admin='.length, set.indexOf(';'));
}
