import { Option, type Command } from 'commander';
import { printLine } from './cli-io.js';
import { usageError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { quote, terminalSafe } from './display.js';
import { readNewPassword } from './password-input.js';

interface AddOptions {
  role: string[];
  passwordStdin?: boolean;
  requireReset?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return previous.includes(value) ? previous : [...previous, value];
}

/** `gatehouse user add NAME [--role ROLE]... [--password-stdin] [--require-reset]` */
export function addUserAddCommand(user: Command, ctx: CliContext): void {
  user.command('add')
    .description('create a user; the password is prompted for, or read from stdin with --password-stdin')
    .argument('<name>', 'user name')
    .addOption(new Option('--role <role>', 'give the user this role (repeatable)').argParser(collect).default([], 'none'))
    .option('--password-stdin', 'read the password from standard input (one trailing newline is ignored)')
    .option('--require-reset', 'make the user choose a new password at first login')
    .action(async (name: string, options: AddOptions) => {
      await withServices(ctx, { createMasterKey: true }, async ({ accounts }) => {
        const taken = (): Error => usageError(`a user named ${quote(name)} already exists`);
        // Checked before the password is typed, and again by the atomic create.
        if (await accounts.get(name)) throw taken();
        const password = await readNewPassword(ctx.io, options.passwordStdin === true);
        const outcome = await accounts.add({ name, roles: options.role, password, requireReset: options.requireReset === true }, cliActor);
        if (outcome === 'exists') throw taken();
        printLine(ctx.io.stdout, `user ${terminalSafe(name)} created`);
      });
    });
}
