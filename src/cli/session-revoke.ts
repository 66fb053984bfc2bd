import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { runtimeError, usageError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { quote, terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/** Why, in the audit log (`by: "cli"` says who). */
const reason = 'revoked_from_cli';

const sessionCount = (n: number): string => `${n} session${n === 1 ? '' : 's'}`;

/** `gatehouse session revoke ID | --user NAME | --all`: effective on the very next request. */
export function addSessionRevokeCommand(session: Command, ctx: CliContext): void {
  session.command('revoke')
    .description('revoke one session by id, every session of a user, or every session')
    .argument('[id]', 'a session id from `gatehouse session list`')
    .option('--user <name>', "revoke all of this user's sessions")
    .option('--all', 'revoke every session')
    .action(async (id: string | undefined, options: { user?: string; all?: boolean }) => {
      const chosen = [id !== undefined, options.user !== undefined, options.all === true].filter(Boolean).length;
      if (chosen !== 1) throw usageError('give exactly one of a session id, --user NAME or --all');
      const line = await withServices(ctx, {}, async ({ accounts, sessions }) => {
        if (id !== undefined) {
          if (!(await sessions.revokeByHandle(id, cliActor, reason))) throw runtimeError(`no live session has the id ${quote(id)}`);
          return `session ${terminalSafe(id)} revoked`;
        }
        if (options.user !== undefined) {
          if (!(await accounts.get(options.user))) throw noSuchUser(options.user);
          return `${sessionCount(await sessions.revokeUser(options.user, cliActor, reason))} of ${terminalSafe(options.user)} revoked`;
        }
        return `${sessionCount(await sessions.revokeAll(cliActor, reason))} revoked`;
      });
      printLine(ctx.io.stdout, line);
    });
}
