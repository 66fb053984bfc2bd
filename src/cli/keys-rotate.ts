import type { Command } from 'commander';
import { parseDuration } from '../config/units.js';
import { defaultRefreshIntervalMs, minimumGraceMs } from '../trust/signing-keys.js';
import { printLine } from './cli-io.js';
import { usageError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { isoTime } from './display.js';

/**
 * `gatehouse keys rotate [--grace DURATION]` (SPEC §7): a new signing key for upstream assertions,
 * used by running gateways within 5 s; the old one stays in the JWKS for the grace period (24h by
 * default), then is gone. Prints the new kid.
 */
export function addKeysRotateCommand(keys: Command, ctx: CliContext): void {
  keys.command('rotate')
    .description('add a new assertion signing key; running gateways use it within 5 s, the old one stays published for the grace period')
    .option('--grace <duration>', 'how long the replaced key stays published, like "24h" or "90m"', '24h')
    .action(async (options: { grace: string }) => {
      const grace = parseDuration(options.grace);
      if (grace === null) throw usageError('--grace: expected a duration like "24h"');
      if (grace < minimumGraceMs) {
        throw usageError(`--grace: must be at least ${minimumGraceMs / 60_000}m, so assertions signed just before the rotation still verify`);
      }
      const rotation = await withServices(ctx, {}, (services) => services.signingKeys.rotate({ grace }, cliActor));
      printLine(ctx.io.stdout, `new signing key ${rotation.kid}; running gateways sign with it within ${defaultRefreshIntervalMs / 1000} s`);
      for (const kid of rotation.retired) printLine(ctx.io.stdout, `previous key ${kid} stays published until ${isoTime(rotation.publishedUntil)}`);
    });
}
