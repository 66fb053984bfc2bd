import type { TestGateway } from './gateway.js';
import { call, type Call, type Reply } from './http.js';
import { totpCode } from './totp.js';

export interface TestConsole {
  /** http://127.0.0.1:<port>, the admin publicOrigin. */
  url: string;
  close(): Promise<void>;
}

/**
 * The console as the gateway serves it: on its own admin listener (src/admin/admin-server.ts, started
 * by the gateway when its configuration has an `admin` key, here `adminKey(port)`).
 */
export function startConsole(gw: TestGateway, port: number): Promise<TestConsole> {
  const admin = gw.gateway.admin;
  if (!admin) throw new Error('the test gateway has no admin listener (no admin key)');
  if (admin.port !== port) throw new Error(`the admin listener is on ${admin.port}, not ${port}`);
  return Promise.resolve({ url: admin.url, close: async () => undefined });
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
