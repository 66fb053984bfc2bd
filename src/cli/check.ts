import { accessSync, constants, existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { openServices } from '../app/open-services.js';
import { referencedSecrets } from '../config/cross-check.js';
import { ConfigError, loadConfig, type ConfigProblem } from '../config/load.js';
import type { GatewayConfig } from '../config/schema.js';
import { cryptoRandom } from '../security/random.js';
import { loadKeyring, MasterKeyError } from '../secrets/keyring.js';
import { SchemaTooNewError } from '../storage/schema-too-new-error.js';
import { openSqliteStore } from '../storage/sqlite/open-sqlite-store.js';
import type { Store } from '../storage/store.js';
import { printLine } from './cli-io.js';
import type { CliContext } from './context.js';

/** Files the configuration names, with the key path each comes from. */
function fileProblems(config: GatewayConfig): ConfigProblem[] {
  const wanted: { path: string; file: string | undefined; folder?: boolean }[] = [
    { path: 'server.tls.cert', file: config.server.tls?.cert },
    { path: 'server.tls.key', file: config.server.tls?.key },
    ...config.upstreams.flatMap((u, i) => (['ca', 'cert', 'key'] as const).map((k) => ({ path: `upstreams[${i}].tls.${k}`, file: u.tls?.[k] }))),
    { path: 'static', file: config.static, folder: true },
  ];
  return wanted.flatMap(({ path, file, folder }) => {
    const message = file === undefined ? null : fileProblem(file, folder === true);
    return message === null ? [] : [{ path, message }];
  });
}

function fileProblem(file: string, folder: boolean): string | null {
  try {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat) return `${file} does not exist`;
    if (folder && !stat.isDirectory()) return `${file} is not a folder`;
    if (!folder && !stat.isFile()) return `${file} is not a file`;
    accessSync(file, constants.R_OK);
    return null;
  } catch (error) {
    return `${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`;
  }
}

function masterKeyProblem(error: unknown): ConfigProblem {
  if (!(error instanceof MasterKeyError)) throw error;
  // MasterKeyError messages start with "masterKey …" to stand alone; here the path says it.
  return { path: 'masterKey', message: error.message.replace(/^masterKey /, '') };
}

/** What an existing store holds: the names of its secrets, and whether the master key opens it. */
async function inspectStore(config: GatewayConfig, file: string, env: NodeJS.ProcessEnv, keyReadable: boolean): Promise<{ secretNames: Set<string> | null; problems: ConfigProblem[] }> {
  let store: Store;
  try {
    store = openSqliteStore(file);
  } catch (error) {
    // Not a problem of the configuration: this Gatehouse is too old for the store (exit 1, SPEC §8).
    if (error instanceof SchemaTooNewError) throw error;
    const code = (error as { code?: unknown }).code;
    const why = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? ` (${code})` : '';
    return { secretNames: null, problems: [{ path: 'store.sqlite', message: `${file} cannot be opened as a Gatehouse store${why}` }] };
  }
  const problems: ConfigProblem[] = [];
  try {
    if (keyReadable) {
      // openServices verifies the key against the store's check value; on a store that has none
      // yet, the first key to open it records one.
      await openServices(config, { store, env, createMasterKey: false }).then((services) => services.close(), (error: unknown) => {
        problems.push(masterKeyProblem(error));
      });
    }
    return { secretNames: new Set((await store.secrets.list()).map((s) => s.name)), problems };
  } finally {
    await store.close();
  }
}

/**
 * The master key must be readable and match the store, and every secret the configuration names
 * must be stored. A store file that does not exist yet is not created: its secrets are all missing.
 */
async function storeProblems(config: GatewayConfig, env: NodeJS.ProcessEnv): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  try {
    loadKeyring(config.masterKey, { create: false, env, random: cryptoRandom });
  } catch (error) {
    problems.push(masterKeyProblem(error));
  }
  // The PostgreSQL store is not opened by the CLI yet (issue 11 wires it): its contents go unchecked.
  if (!('sqlite' in config.store)) return problems;
  const file = config.store.sqlite;
  if (file === ':memory:' || !existsSync(file)) return [...problems, ...missingSecrets(config, new Set())];
  const inspected = await inspectStore(config, file, env, problems.length === 0);
  // An unusable store says nothing about which secrets are missing.
  return [...problems, ...inspected.problems, ...(inspected.secretNames ? missingSecrets(config, inspected.secretNames) : [])];
}

function missingSecrets(config: GatewayConfig, stored: ReadonlySet<string>): ConfigProblem[] {
  return referencedSecrets(config)
    .filter(({ name }) => !stored.has(name))
    .map(({ name, path }) => ({ path, message: `no secret named "${name}" is stored (use gatehouse secret set ${name})` }));
}

/** `gatehouse check`: every problem, one per line, exit 2; else `configuration OK`. */
export function addCheckCommand(program: Command, ctx: CliContext): void {
  program.command('check')
    .description('validate the configuration, the master key, stored secrets and named files; exit 2 on any problem')
    .action(async () => {
      const { config } = loadConfig(ctx.configFile());
      const problems = [...fileProblems(config), ...(await storeProblems(config, ctx.io.env))];
      if (problems.length > 0) throw new ConfigError(problems);
      printLine(ctx.io.stdout, 'configuration OK');
    });
}
