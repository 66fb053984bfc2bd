import { existsSync } from 'node:fs';
import { openServices, type Services } from '../app/open-services.js';
import type { AuditContext } from '../audit/audit-log.js';
import { loadConfig } from '../config/load.js';
import { printLine, type CliIo } from './cli-io.js';

/** What every command of one `runCli` call shares. Built per call, so two runs never meet. */
export interface CliContext {
  io: CliIo;
  /** The configuration file: `--config`, else `$GATEHOUSE_CONFIG`, else `./gatehouse.yaml`. */
  configFile(): string;
  /** What `runCli` returns when the command finishes without throwing. */
  exitCode: number;
}

/**
 * Who made a change from the command line. SessionService and AccountService record it as
 * `detail.by: "cli"` (the event's `user` is the account concerned); SecretService, whose events
 * concern no account, records it as the event's `user`. No request is involved: ip and request id
 * are null.
 */
export const cliActor: Readonly<AuditContext> = Object.freeze({ user: 'cli', ip: null, requestId: null });

export function defaultConfigFile(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.GATEHOUSE_CONFIG;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : './gatehouse.yaml';
}

export interface OpenOptions {
  /**
   * Create a missing master key file. Only the commands of a first run (`user add`, `secret set`)
   * do; every other command refuses, so a mistyped path never silently gets a fresh key.
   */
  createMasterKey?: boolean;
}

/** Loads the configuration, opens the store and services, runs `work`, and always closes the store. */
export async function withServices<T>(ctx: CliContext, options: OpenOptions, work: (services: Services) => Promise<T>): Promise<T> {
  const { config } = loadConfig(ctx.configFile());
  const keyFiles = config.masterKey.filter((source) => source.startsWith('file:')).map((source) => source.slice(5));
  const missingBefore = keyFiles.filter((file) => !existsSync(file));
  const services = await openServices(config, { env: ctx.io.env, createMasterKey: options.createMasterKey ?? false });
  for (const file of missingBefore.filter((f) => existsSync(f))) {
    printLine(ctx.io.stderr, `created a new master key in ${file}; back it up, because stored secrets cannot be decrypted without it`);
  }
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}
