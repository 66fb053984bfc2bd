import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';
import { readNewPassword } from './password-input.js';
import { noSuchUser } from './user-errors.js';

/** `gatehouse user passwd NAME [--password-stdin]`: revokes every session of the user. */
export function addUserPasswdCommand(user: Command, ctx: CliContext): void {
  user.command('passwd')
    .description("set a user's password; revokes all of that user's sessions")
    .argument('<name>', 'user name')
    .option('--password-stdin', 'read the password from standard input (one trailing newline is ignored)')
    .action(async (name: string, options: { passwordStdin?: boolean }) => {
      await withServices(ctx, {}, async ({ accounts }) => {
        // Checked first so nobody types a password for a user that does not exist.
        if (!(await accounts.get(name))) throw noSuchUser(name);
        const password = await readNewPassword(ctx.io, options.passwordStdin === true);
        if (!(await accounts.setPassword(name, password, cliActor))) throw noSuchUser(name);
        printLine(ctx.io.stdout, `password of ${terminalSafe(name)} changed; their sessions were revoked`);
      });
    });
}
