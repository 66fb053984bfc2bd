import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { runtimeError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';

/**
 * `gatehouse secret remove NAME`: removing a secret that is not there is a failure (exit 1). The
 * name is not echoed in that case: it may be a value pasted in the wrong place (as SecretService).
 */
export function addSecretRemoveCommand(secret: Command, ctx: CliContext): void {
  secret.command('remove')
    .description('delete a secret')
    .argument('<name>', 'secret name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ secrets }) => {
        if (!(await secrets.remove(name, cliActor))) throw runtimeError('no secret with that name is stored');
        printLine(ctx.io.stdout, `secret ${terminalSafe(name)} removed`);
      });
    });
}
