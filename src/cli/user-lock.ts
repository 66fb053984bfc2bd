import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/** `gatehouse user lock NAME` and `gatehouse user unlock NAME`. */
export function addUserLockCommands(user: Command, ctx: CliContext): void {
  user.command('lock')
    .description("stop a user from logging in; revokes all of that user's sessions")
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ accounts }) => {
        if (!(await accounts.lock(name, cliActor))) throw noSuchUser(name);
        printLine(ctx.io.stdout, `user ${terminalSafe(name)} locked; their sessions were revoked`);
      });
    });

  user.command('unlock')
    .description('let a locked user log in again')
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ accounts }) => {
        if (!(await accounts.unlock(name, cliActor))) throw noSuchUser(name);
        printLine(ctx.io.stdout, `user ${terminalSafe(name)} unlocked`);
      });
    });
}
