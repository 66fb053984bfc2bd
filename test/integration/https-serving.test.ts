import { readFileSync } from 'node:fs';
import { connect, createServer, type ConnectionOptions, type SecureVersion } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { startHttpsGateway, type HttpsGateway } from '../helpers/https-gateway.js';

/** SPEC §3 server.tls, §4 HSTS, §4.2 the __Host- cookie: Gatehouse serving HTTPS itself. */

let https: HttpsGateway;
beforeAll(async () => {
  https = await startHttpsGateway();
});
afterAll(async () => {
  await https?.close();
});

/** A raw TLS handshake with these client settings; resolves to the protocol and cipher, or the error code. */
function handshake(port: number, options: ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(https.ca.cert), ...options }, () => {
      resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.destroy();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

/** Old protocols need OpenSSL's security level 0 on the client: without it the test could not fail. */
const legacyClient = (version: SecureVersion): ConnectionOptions => ({ minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });

describe('HTTPS serving', () => {
  it('login sets __Host-gatehouse with Secure, HttpOnly, SameSite=Strict, Path=/ and no Domain; the cookie works over HTTPS', async () => {
    const reply = await call(https.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD }, dispatcher: https.agent });
    expect(reply.status).toBe(200);
    const cookie = reply.setCookie.find((c) => c.startsWith('__Host-gatehouse='));
    expect(cookie).toBeDefined();
    const attributes = cookie!.split(';').slice(1).map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(['path=/', 'secure', 'httponly', 'samesite=strict']));
    expect(attributes.some((a) => a.startsWith('domain'))).toBe(false);
    expect(reply.setCookie.some((c) => c.startsWith('gatehouse='))).toBe(false);

    const session = await call(https.gw.url, '/auth/session', { headers: { cookie: `__Host-gatehouse=${reply.cookie}` }, dispatcher: https.agent });
    expect(session.status).toBe(200);
    // The plain-HTTP name is not the session cookie here.
    expect((await call(https.gw.url, '/auth/session', { session: reply.cookie!, dispatcher: https.agent })).status).toBe(401);
  });

  it('every response Gatehouse generates carries Strict-Transport-Security: max-age=31536000', async () => {
    for (const path of ['/healthz', '/auth/session', '/no-such-route']) {
      const reply = await call(https.gw.url, path, { dispatcher: https.agent });
      expect(reply.headers['strict-transport-security']).toBe('max-age=31536000');
    }
  });

  it('refuses TLS 1.0 and 1.1, which the same client settings can speak to a server that allows them', async () => {
    const control = createServer({ cert: readFileSync(https.server.cert), key: readFileSync(https.server.key), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
    try {
      for (const version of ['TLSv1', 'TLSv1.1'] as const) {
        expect(await handshake((control.address() as AddressInfo).port, legacyClient(version))).toMatchObject({ protocol: version });
        expect(await handshake(https.port, legacyClient(version))).toEqual({ error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
      }
    } finally {
      control.close();
    }
  });

  it('accepts TLS 1.3, and TLS 1.2 with forward-secret AEAD ciphers only', async () => {
    expect(await handshake(https.port, {})).toMatchObject({ protocol: 'TLSv1.3' });
    expect(await handshake(https.port, { maxVersion: 'TLSv1.2' })).toEqual({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    // A client that offers only CBC suites, or only static-RSA key exchange, finds nothing in common.
    for (const ciphers of ['ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256', 'AES128-GCM-SHA256:AES256-GCM-SHA384']) {
      expect(await handshake(https.port, { maxVersion: 'TLSv1.2', ciphers })).toEqual({ error: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
    }
  });
});
