import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/** `gatehouse user remove NAME`: the user and their sessions. */
export function addUserRemoveCommand(user: Command, ctx: CliContext): void {
  user.command('remove')
    .description('delete a user and their sessions')
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ accounts }) => {
        if (!(await accounts.remove(name, cliActor))) throw noSuchUser(name);
        printLine(ctx.io.stdout, `user ${terminalSafe(name)} removed, with their sessions`);
      });
    });
}
