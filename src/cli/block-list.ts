import type { Command } from 'commander';
import type { Block } from '../rules/block-store.js';
import { printLine } from './cli-io.js';
import { withServices, type CliContext } from './context.js';
import { isoTime, shortTime, toJson } from './display.js';
import { formatTable } from './table.js';

/** The `--json` shape SPEC §2 fixes for `block list`; `key` is an address, a session's id (its handle) or a user name. */
export interface BlockListEntry {
  rule: string;
  by: Block['by'];
  key: string;
  until: string;
}

export function blockListEntry(block: Block): BlockListEntry {
  return { rule: block.rule, by: block.by, key: block.key, until: isoTime(block.until) ?? '' };
}

/** `gatehouse block list [--json]`: the rate-rule blocks active now. */
export function addBlockListCommand(block: Command, ctx: CliContext): void {
  block.command('list')
    .description('list active rate-rule blocks: rule, kind of key, key (address, session id or user), until')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const blocks = await withServices(ctx, {}, (services) => services.blocks.list());
      if (options.json) {
        printLine(ctx.io.stdout, toJson(blocks.map(blockListEntry)));
        return;
      }
      printLine(ctx.io.stdout, formatTable(
        ['RULE', 'BY', 'KEY', 'UNTIL'],
        blocks.map((b) => [b.rule, b.by, b.key, shortTime(b.until)]),
      ));
    });
}
