import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/** `gatehouse user mfa-reset NAME` (SPEC §4.5): for a user who lost their authenticator. */
export function addUserMfaResetCommand(user: Command, ctx: CliContext): void {
  user.command('mfa-reset')
    .description("remove a user's TOTP, recovery codes and passkeys; revokes all of that user's sessions")
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ accounts, totp, sessions }) => {
        if (!(await accounts.get(name))) throw noSuchUser(name);
        await totp.resetAll(name, cliActor);
        await sessions.revokeUser(name, cliActor, 'mfa_reset');
        printLine(ctx.io.stdout, `second factors of ${terminalSafe(name)} removed; their sessions were revoked`);
      });
    });
}
