import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { certificateFolder, type CertificateFiles, type CertificateFolder, type TestCa } from '../helpers/certificates.js';
import { arrangeStore, baseDocument, gatewayFolder, startFromFolder, type GatewayFolder, type RunningGateway } from '../helpers/file-gateway.js';
import { SECRET } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { startTlsUpstream, type TlsUpstream } from '../helpers/tls-upstream.js';

/**
 * SPEC §7 mTLS to the upstream: `upstreams[].tls` {ca, cert, key}. The upstream's certificate is
 * always verified; the upstream here demands a client certificate from its own CA, so only a
 * Gatehouse holding one gets through. A failed handshake is 502 upstream_unavailable (SPEC §4.4).
 */

let pki: CertificateFolder;
let upstreamCa: TestCa;
let clientCa: TestCa;
let otherCa: TestCa;
let gatehouseClient: CertificateFiles;
let strangerClient: CertificateFiles;
let upstream: TlsUpstream;
let misnamedUpstream: TlsUpstream;
const folders: GatewayFolder[] = [];
const gateways: RunningGateway[] = [];

beforeAll(async () => {
  pki = certificateFolder();
  upstreamCa = pki.ca('upstream-ca');
  clientCa = pki.ca('client-ca');
  otherCa = pki.ca('other-ca');
  gatehouseClient = clientCa.issue('gatehouse', { use: 'client' });
  strangerClient = otherCa.issue('stranger', { use: 'client' });
  const server = upstreamCa.issue('upstream', { use: { server: ['IP:127.0.0.1', 'DNS:localhost'] } });
  upstream = await startTlsUpstream({ ...server, clientCa: clientCa.cert });
  // Signed by the right CA, but for another name than the URL's host.
  const misnamed = upstreamCa.issue('elsewhere', { use: { server: ['DNS:elsewhere.example'] } });
  misnamedUpstream = await startTlsUpstream({ ...misnamed, clientCa: clientCa.cert });
});

afterAll(async () => {
  for (const gw of gateways) await gw.stop();
  for (const folder of folders) folder.remove();
  await upstream?.close();
  await misnamedUpstream?.close();
  pki?.remove();
});

/** A gateway whose one upstream is `url` with these `tls` settings, on a public route. */
async function gatewayWith(tls: Record<string, unknown> | undefined, url = upstream.url): Promise<RunningGateway> {
  const folder = gatewayFolder();
  folders.push(folder);
  folder.writeConfig(baseDocument({
    upstreams: [{ name: 'api', url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '5s', ...(tls ? { tls } : {}) }],
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api', public: true }],
  }));
  await arrangeStore(folder, { secrets: { 'api-token': SECRET } });
  const gw = await startFromFolder(folder);
  gateways.push(gw);
  return gw;
}

async function expectUnavailable(gw: RunningGateway, path: string): Promise<void> {
  const seenBefore = upstream.seen.length + misnamedUpstream.seen.length;
  const reply = await call(gw.url, path);
  expect(reply.status).toBe(502);
  expect(reply.json().error.code).toBe('upstream_unavailable');
  // Neither the upstream's address nor the TLS error reaches the client.
  expect(reply.text).not.toMatch(/127\.0\.0\.1|certificate|self.signed|alert/i);
  // Nothing reached an upstream's request handler, so the credential was never delivered.
  expect(upstream.seen.length + misnamedUpstream.seen.length).toBe(seenBefore);
}

describe('mTLS to the upstream', () => {
  it('with the CA, its client certificate and key, Gatehouse gets through, and no warning is logged', async () => {
    const gw = await gatewayWith({ ca: upstreamCa.cert, cert: gatehouseClient.cert, key: gatehouseClient.key });
    const reply = await call(gw.url, '/api/v1/today');
    expect(reply.status).toBe(200);
    expect(upstream.seen.at(-1)).toMatchObject({ url: '/v1/today', clientCertificate: 'gatehouse' });
    expect(upstream.seen.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(gw.logs()).not.toContain('dangerouslyDisableCertificateVerification');
  });

  it('without a client certificate the upstream refuses the handshake: 502 upstream_unavailable', async () => {
    const gw = await gatewayWith({ ca: upstreamCa.cert });
    await expectUnavailable(gw, '/api/v1/today');
  });

  it('a client certificate from a CA the upstream does not trust is refused too: 502', async () => {
    const gw = await gatewayWith({ ca: upstreamCa.cert, cert: strangerClient.cert, key: strangerClient.key });
    await expectUnavailable(gw, '/api/v1/today');
  });

  it('an upstream whose certificate does not chain to the configured CA is refused by Gatehouse: 502', async () => {
    const gw = await gatewayWith({ ca: otherCa.cert, cert: gatehouseClient.cert, key: gatehouseClient.key });
    await expectUnavailable(gw, '/api/v1/today');
  });

  it('verification is on without any tls settings: a private-CA upstream is not trusted by the system CAs', async () => {
    const gw = await gatewayWith(undefined);
    await expectUnavailable(gw, '/api/v1/today');
  });

  it('the host name is verified too: a certificate from the right CA for another name is refused', async () => {
    const gw = await gatewayWith({ ca: upstreamCa.cert, cert: gatehouseClient.cert, key: gatehouseClient.key }, misnamedUpstream.url);
    await expectUnavailable(gw, '/api/v1/today');
  });

  it('the test upstream refuses a plain client that presents no certificate', async () => {
    const seenBefore = upstream.seen.length;
    const plain = new Agent({ connect: { ca: readFileSync(upstreamCa.cert) } });
    try {
      const attempt = request(`${upstream.url}/v1/today`, { dispatcher: plain }).then(async (res) => {
        await res.body.text();
        return res.statusCode;
      });
      await expect(attempt).rejects.toThrow();
    } finally {
      await plain.close();
    }
    expect(upstream.seen.length).toBe(seenBefore);
    expect(upstream.refused.length).toBeGreaterThan(0);
  });

  it('tls.dangerouslyDisableCertificateVerification skips verifying the upstream, and says so loudly at start', async () => {
    // No ca: the upstream's private CA is unknown, yet the request goes through.
    const gw = await gatewayWith({ cert: gatehouseClient.cert, key: gatehouseClient.key, dangerouslyDisableCertificateVerification: true });
    expect((await call(gw.url, '/api/v1/insecure')).status).toBe(200);
    expect(upstream.seen.at(-1)).toMatchObject({ url: '/v1/insecure', clientCertificate: 'gatehouse' });
    const warning = gw.logs().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number; msg: string; upstream?: string })
      .find((line) => line.msg.includes('certificate verification is OFF'));
    expect(warning).toMatchObject({ level: 40, upstream: 'api' });
  });

  it('the opt-out takes a boolean only, and is off unless set', () => {
    const upstreamConfig = { name: 'api', url: 'https://127.0.0.1:9443' };
    expect(parseConfig({ upstreams: [{ ...upstreamConfig, tls: { ca: 'ca.pem' } }] }, '/x').upstreams[0]!.tls?.dangerouslyDisableCertificateVerification).toBe(false);
    expect(() => parseConfig({ upstreams: [{ ...upstreamConfig, tls: { dangerouslyDisableCertificateVerification: 'yes' } }] }, '/x'))
      .toThrow(/upstreams\[0\]\.tls\.dangerouslyDisableCertificateVerification/);
    expect(() => parseConfig({ upstreams: [{ ...upstreamConfig, tls: { insecureSkipVerify: true } }] }, '/x'))
      .toThrow(/upstreams\[0\]\.tls\.insecureSkipVerify: unknown key/);
  });
});
