import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { openServices, type Services } from '../../src/app/open-services.js';
import { loadConfig } from '../../src/config/load.js';
import { runCli } from '../../src/cli/run-cli.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** What stdin holds (piped, not a terminal); empty by default. */
  stdin?: string | Readable;
  env?: NodeJS.ProcessEnv;
}

export const baseConfig = `
store:
  sqlite: ./gatehouse.db
masterKey: file:./master.key
upstreams:
  - name: weather
    url: http://127.0.0.1:9000
    credential: { type: bearer, secret: weather-token }
routes:
  - path: /api/weather/**
    upstream: weather
    stripPrefix: /api/weather
`;

class Capture extends Writable {
  text = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** A fake terminal for stdin: readline puts it in raw mode (a no-op here) and reads keystrokes. */
export function fakeTerminal(): PassThrough & { isTTY: true; setRawMode(mode: boolean): void } {
  return Object.assign(new PassThrough(), { isTTY: true as const, setRawMode: (): void => {} });
}

/** Runs the CLI in-process with captured streams. */
export async function runRaw(argv: string[], options: RunOptions = {}): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = options.stdin instanceof Readable ? options.stdin : Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]);
  const code = await runCli(argv, { stdin, stdout, stderr, env: options.env ?? {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A temporary folder with a configuration file; `run` adds `--config` and remembers all output. */
export class Workspace {
  readonly dir: string;
  readonly configFile: string;
  /** Everything any command printed, to prove a value never appears. */
  output = '';

  /** With `masterKey: false` there is no master.key yet, as on a first run. */
  constructor(configText: string = baseConfig, options: { masterKey?: boolean } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
    this.configFile = join(this.dir, 'gatehouse.yaml');
    writeFileSync(this.configFile, configText);
    if (options.masterKey ?? true) writeFileSync(join(this.dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  }

  async run(argv: string[], options: RunOptions = {}): Promise<CliRun> {
    const result = await runRaw([...argv, '--config', this.configFile], options);
    this.output += result.stdout + result.stderr;
    return result;
  }

  /** The services on the same store, for arranging what the CLI should find. */
  async withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
    const services = await openServices(loadConfig(this.configFile).config, { env: {} });
    try {
      return await work(services);
    } finally {
      await services.close();
    }
  }

  async addUser(name: string, extra: string[] = []): Promise<void> {
    const result = await this.run(['user', 'add', name, '--password-stdin', ...extra], { stdin: 'a long enough password\n' });
    if (result.code !== 0) throw new Error(`user add failed: ${result.stderr}`);
  }

  /** Logs the user in directly through the session service; returns the session's handle. */
  async createSession(name: string, userAgent = 'test-agent/1.0'): Promise<string> {
    return this.withServices(async ({ accounts, sessions }) => {
      const user = await accounts.get(name);
      if (!user) throw new Error(`no user ${name}`);
      return (await sessions.create(user, { ip: '203.0.113.7', userAgent })).session.handle;
    });
  }

  async sessionHandles(name?: string): Promise<string[]> {
    return this.withServices(async ({ sessions }) => (await sessions.list(name === undefined ? {} : { userName: name })).map((s) => s.handle));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
