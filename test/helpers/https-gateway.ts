import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { certificateFolder, type CertificateFiles, type CertificateFolder, type TestCa } from './certificates.js';
import { arrangeStore, baseDocument, gatewayFolder, startFromFolder, type GatewayFolder, type RunningGateway } from './file-gateway.js';
import { SECRET, testServer } from './gateway.js';
import { freePort } from './processes.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export interface HttpsGateway {
  gw: RunningGateway;
  port: number;
  /** `https://localhost:<port>`: server.publicOrigin. */
  origin: string;
  ca: TestCa;
  server: CertificateFiles;
  /** An undici dispatcher that trusts the test CA. */
  agent: Agent;
  close(): Promise<void>;
}

/**
 * A gateway serving HTTPS itself (`server.tls`) on 127.0.0.1 with a certificate for localhost and
 * 127.0.0.1 from a CA made for the run, `publicOrigin: https://localhost:<port>`, user alice and a
 * plain upstream behind `/api/**`.
 */
export async function startHttpsGateway(): Promise<HttpsGateway> {
  const pki: CertificateFolder = certificateFolder();
  const ca = pki.ca('gatehouse-test-ca');
  const server = ca.issue('localhost', { use: { server: ['DNS:localhost', 'IP:127.0.0.1'] }, crlUrl: 'http://127.0.0.1:9/gatehouse-test-ca.crl' });
  const upstream: TestUpstream = await startUpstream();
  const folder: GatewayFolder = gatewayFolder();
  const port = await freePort();
  const origin = `https://localhost:${port}`;
  folder.writeConfig(baseDocument({
    server: { ...testServer, port, publicOrigin: origin, tls: { cert: server.cert, key: server.key } },
    upstreams: [{ name: 'api', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' }, timeout: '5s' }],
    routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
  }));
  await arrangeStore(folder, { secrets: { 'api-token': SECRET }, users: [{ name: 'alice' }] });
  const gw = await startFromFolder(folder);
  const agent = new Agent({ connect: { ca: readFileSync(ca.cert), servername: 'localhost' } });
  return {
    gw, port, origin, ca, server, agent,
    close: async () => {
      await agent.close();
      await gw.stop();
      await upstream.close();
      folder.remove();
      pki.remove();
    },
  };
}
