import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { runtimeError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { quote } from './display.js';

/** `gatehouse block remove RULE KEY`: lifts one block at once, on every process sharing the store; audited. */
export function addBlockRemoveCommand(block: Command, ctx: CliContext): void {
  block.command('remove')
    .description('lift one rate-rule block at once, on every worker and node')
    .argument('<rule>', 'the rule that set it, as `gatehouse block list` shows')
    .argument('<key>', 'the blocked address, session id or user name, as `gatehouse block list` shows')
    .action(async (rule: string, key: string) => {
      const removed = await withServices(ctx, {}, (services) => services.blocks.remove(rule, key, cliActor));
      if (!removed) throw runtimeError(`no active block of rule ${quote(rule)} on ${quote(key)}`);
      printLine(ctx.io.stdout, `block of rule ${quote(rule)} on ${quote(key)} lifted`);
    });
}
