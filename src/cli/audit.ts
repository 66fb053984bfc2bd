import { InvalidArgumentError, type Command } from 'commander';
import type { AuditEvent } from '../audit/audit-store.js';
import { printLine } from './cli-io.js';
import { withServices, type CliContext } from './context.js';
import { isoTime, shortTime, toJson } from './display.js';
import { formatTable } from './table.js';

/** The `--json` shape SPEC §2 fixes for `audit`. */
export interface AuditEntry {
  time: string;
  type: string;
  user: string | null;
  ip: string | null;
  requestId: string | null;
  detail: AuditEvent['detail'];
}

export function auditEntry(event: AuditEvent): AuditEntry {
  return { time: isoTime(event.time) ?? '', type: event.type, user: event.user, ip: event.ip, requestId: event.requestId, detail: { ...event.detail } };
}

export function parseLimit(text: string): number {
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidArgumentError('N must be a positive whole number.');
  return Number(text);
}

const detailText = (detail: AuditEvent['detail']): string =>
  Object.entries(detail).map(([key, value]) => `${key}=${String(value)}`).join(' ') || '-';

/** `gatehouse audit [--limit N] [--json]`: recent security events, newest first. */
export function addAuditCommand(program: Command, ctx: CliContext): void {
  program.command('audit')
    .description('show recent security events, newest first')
    .option('--limit <N>', 'how many events to show', parseLimit, 50)
    .option('--json', 'print a JSON array')
    .action(async (options: { limit: number; json?: boolean }) => {
      const events = await withServices(ctx, {}, async ({ store }) => store.audit.recent(options.limit));
      if (options.json) {
        printLine(ctx.io.stdout, toJson(events.map(auditEntry)));
        return;
      }
      printLine(ctx.io.stdout, formatTable(
        ['TIME', 'TYPE', 'USER', 'IP', 'REQUEST ID', 'DETAIL'],
        events.map((e) => [shortTime(e.time), e.type, e.user ?? '-', e.ip ?? '-', e.requestId ?? '-', detailText(e.detail)]),
      ));
    });
}
