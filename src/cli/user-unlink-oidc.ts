import type { Command } from 'commander';
import { runtimeError } from './cli-error.js';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { quote, terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/**
 * `gatehouse user unlink-oidc NAME` (SPEC §2): no provider identity logs in as NAME any more. Its
 * sessions are left alone (they end as any other session does); exit 1 when none was linked.
 */
export function addUserUnlinkOidcCommand(user: Command, ctx: CliContext): void {
  user.command('unlink-oidc')
    .description('stop every OpenID provider identity from logging in as the user NAME')
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      await withServices(ctx, {}, async ({ store, audit }) => {
        if (!(await store.users.get(name))) throw noSuchUser(name);
        const removed = await store.oidc.unlinkUser(name);
        if (removed === 0) throw runtimeError(`no provider identity is linked to ${quote(name)}`);
        await audit.record('oidc_identity_unlinked', cliActor, { user: name, count: removed });
        printLine(ctx.io.stdout, `user ${terminalSafe(name)} unlinked from ${removed} provider ${removed === 1 ? 'identity' : 'identities'}`);
      });
    });
}
