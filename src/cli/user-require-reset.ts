import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/** `gatehouse user require-reset NAME`: a new password at next login; revokes the user's sessions. */
export function addUserRequireResetCommand(user: Command, ctx: CliContext): void {
  user.command('require-reset')
    .description("force a password change at next login; revokes all of that user's sessions")
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ accounts }) => {
        if (!(await accounts.requireReset(name, cliActor))) throw noSuchUser(name);
        printLine(ctx.io.stdout, `${terminalSafe(name)} must choose a new password at next login; their sessions were revoked`);
      });
    });
}
