import { Command, Option } from 'commander';
import { addAuditCommand } from './audit.js';
import { addBlockListCommand } from './block-list.js';
import { addBlockRemoveCommand } from './block-remove.js';
import { addCheckCommand } from './check.js';
import type { CliIo } from './cli-io.js';
import { defaultConfigFile, type CliContext } from './context.js';
import { addKeysRotateCommand } from './keys-rotate.js';
import { addMigrateCommand } from './migrate.js';
import { reportError } from './report-error.js';
import { addSecretListCommand } from './secret-list.js';
import { addSecretRemoveCommand } from './secret-remove.js';
import { addSecretRotateMasterKeyCommand } from './secret-rotate-master-key.js';
import { addSecretSetCommand } from './secret-set.js';
import { addServeCommand } from './serve.js';
import { addSessionListCommand } from './session-list.js';
import { addSessionRevokeCommand } from './session-revoke.js';
import { addStoreCopyCommand } from './store-copy.js';
import { addUserAddCommand } from './user-add.js';
import { addUserListCommand } from './user-list.js';
import { addUserLockCommands } from './user-lock.js';
import { addUserLinkOidcCommand } from './user-link-oidc.js';
import { addUserUnlinkOidcCommand } from './user-unlink-oidc.js';
import { addUserMfaResetCommand } from './user-mfa-reset.js';
import { addUserPasswdCommand } from './user-passwd.js';
import { addUserRemoveCommand } from './user-remove.js';
import { addUserRequireResetCommand } from './user-require-reset.js';

export type { CliIo } from './cli-io.js';

/** The command tree (SPEC §2), built afresh for every run so runs share nothing. */
function buildProgram(io: CliIo, ctx: CliContext): Command {
  // Settings made before the subcommands are created are inherited by them.
  const program = new Command('gatehouse')
    .description('A security gateway that keeps an API\'s secret token on the server.')
    // Not positional: commander takes --config anywhere on the command line.
    .addOption(new Option('--config <file>', 'configuration file').default(defaultConfigFile(io.env), '$GATEHOUSE_CONFIG, else ./gatehouse.yaml'))
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showSuggestionAfterError(true)
    .exitOverride();

  addServeCommand(program, ctx);
  addCheckCommand(program, ctx);

  const user = program.command('user').description('manage users');
  addUserAddCommand(user, ctx);
  addUserPasswdCommand(user, ctx);
  addUserRequireResetCommand(user, ctx);
  addUserLockCommands(user, ctx);
  addUserMfaResetCommand(user, ctx);
  addUserRemoveCommand(user, ctx);
  addUserListCommand(user, ctx);
  addUserLinkOidcCommand(user, ctx);
  addUserUnlinkOidcCommand(user, ctx);

  const secret = program.command('secret').description('manage upstream secrets, encrypted under the master key');
  addSecretSetCommand(secret, ctx);
  addSecretListCommand(secret, ctx);
  addSecretRemoveCommand(secret, ctx);
  addSecretRotateMasterKeyCommand(secret, ctx);

  const session = program.command('session').description('list and revoke sessions');
  addSessionListCommand(session, ctx);
  addSessionRevokeCommand(session, ctx);

  const keys = program.command('keys').description('manage the keys that sign upstream assertions');
  addKeysRotateCommand(keys, ctx);

  const block = program.command('block').description('list and lift rate-rule blocks');
  addBlockListCommand(block, ctx);
  addBlockRemoveCommand(block, ctx);

  addAuditCommand(program, ctx);
  addMigrateCommand(program, ctx);

  const store = program.command('store').description('move the whole store to another backend');
  addStoreCopyCommand(store, ctx);
  return program;
}

/**
 * Runs one command line and returns its exit code: 0 success, 1 runtime failure, 2 bad usage or
 * invalid configuration. Never exits the process, so tests run it in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const ctx: CliContext = {
    io,
    exitCode: 0,
    configFile: () => program.opts<{ config: string }>().config,
  };
  const program = buildProgram(io, ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}
