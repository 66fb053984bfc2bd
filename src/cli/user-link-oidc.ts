import type { Command } from 'commander';
import { runtimeError, usageError } from './cli-error.js';
import { printLine } from './cli-io.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { quote, terminalSafe } from './display.js';
import { noSuchUser } from './user-errors.js';

/**
 * `gatehouse user link-oidc NAME --provider P --subject SUB` (SPEC §2, §9): the identity (issuer of
 * P, SUB) logs in as the existing user NAME from now on. The only way a local user is reached
 * through a provider: never by a matching e-mail.
 */
export function addUserLinkOidcCommand(user: Command, ctx: CliContext): void {
  user.command('link-oidc')
    .description('let an identity of an OpenID provider (its issuer and SUB) log in as the existing user NAME')
    .argument('<name>', 'user name')
    .requiredOption('--provider <provider>', 'the provider, by its name in oidc.providers')
    .requiredOption('--subject <sub>', "the identity's subject (`sub`) at that provider")
    .action(async (name: string, options: { provider: string; subject: string }) => {
      if (options.subject === '' || options.subject.length > 255) throw usageError('--subject: expected the provider\'s sub, 1 to 255 characters');
      await withServices(ctx, {}, async ({ config, store, audit, clock }) => {
        const provider = config.oidc.providers.find((p) => p.name === options.provider);
        if (!provider) throw usageError(`--provider: no provider named ${quote(options.provider)} in oidc.providers`);
        if (!(await store.users.get(name))) throw noSuchUser(name);
        const linked = await store.oidc.link({ issuer: provider.issuer, subject: options.subject, userName: name, createdAt: clock.now() });
        if (!linked) {
          const holder = await store.oidc.findIdentity(provider.issuer, options.subject);
          throw runtimeError(`that identity already logs in as ${quote(holder?.userName ?? '?')}; unlink it first`);
        }
        await audit.record('oidc_identity_linked', cliActor, { user: name, provider: provider.name, issuer: provider.issuer });
        printLine(ctx.io.stdout, `user ${terminalSafe(name)} linked to ${terminalSafe(options.subject)} at ${terminalSafe(provider.name)}`);
      });
    });
}
