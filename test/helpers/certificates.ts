import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates made at test time with the `openssl` command (Debian's openssl package; .ci/run
 * installs it): nothing with a private key is ever committed. EC P-256 keys, generated fresh for
 * every run.
 */

export interface CertificateFiles {
  cert: string;
  key: string;
}

export interface TestCa extends CertificateFiles {
  name: string;
  /** Issues a certificate signed by this CA. */
  issue(name: string, options: IssueOptions): CertificateFiles;
}

export interface IssueOptions {
  /** serverAuth with these subject alternative names (`DNS:localhost`, `IP:127.0.0.1`), or clientAuth. */
  use: { server: string[] } | 'client';
  /** Validity in days (default 200). */
  days?: number;
  /**
   * A CRL distribution point to name in the certificate. Public CAs always name one (or an OCSP
   * responder); testssl.sh rates a server certificate without either as HIGH. Never fetched.
   */
  crlUrl?: string;
}

export interface CertificateFolder {
  dir: string;
  /** A new self-signed CA. */
  ca(name: string): TestCa;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl command is not installed (apt-get install -y openssl); the TLS tests generate their certificates with it');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** 127 random bits, positive (RFC 5280 §4.1.2.2; CA/B Forum: at least 64 bits of entropy). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return `0x${bytes.toString('hex')}`;
}

export function certificateFolder(): CertificateFolder {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pki-'));
  const ca = (name: string): TestCa => {
    const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.key, '-out', files.cert,
      '-days', '365', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    return {
      name,
      ...files,
      issue: (leaf, options) => {
        const out = { cert: join(dir, `${leaf}.pem`), key: join(dir, `${leaf}.key`) };
        const csr = join(dir, `${leaf}.csr`);
        const ext = join(dir, `${leaf}.ext`);
        const lines = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
        if (options.use === 'client') lines.push('extendedKeyUsage=clientAuth');
        else lines.push('extendedKeyUsage=serverAuth', `subjectAltName=${options.use.server.join(',')}`);
        if (options.crlUrl) lines.push(`crlDistributionPoints=URI:${options.crlUrl}`);
        writeFileSync(ext, `${lines.join('\n')}\n`);
        openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', out.key, '-out', csr, '-subj', `/CN=${leaf}`], dir);
        openssl(['x509', '-req', '-in', csr, '-CA', files.cert, '-CAkey', files.key, '-set_serial', serialNumber(), '-out', out.cert,
          '-days', String(options.days ?? 200), '-extfile', ext], dir);
        return out;
      },
    };
  };
  return { dir, ca, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
