import type { Command } from 'commander';
import { printLine } from './cli-io.js';
import { withServices, type CliContext } from './context.js';
import { isoTime, shortTime, toJson } from './display.js';
import { formatTable } from './table.js';

/** `gatehouse secret list [--json]`: names and update times, never values. */
export function addSecretListCommand(secret: Command, ctx: CliContext): void {
  secret.command('list')
    .description('list stored secrets: names and update times only, never values')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const secrets = await withServices(ctx, {}, async (services) => services.secrets.list());
      if (options.json) {
        printLine(ctx.io.stdout, toJson(secrets.map((s) => ({ name: s.name, updatedAt: isoTime(s.updatedAt) }))));
        return;
      }
      printLine(ctx.io.stdout, formatTable(['NAME', 'UPDATED'], secrets.map((s) => [s.name, shortTime(s.updatedAt)])));
    });
}
