import type { Command } from 'commander';
import type { SessionRecord } from '../sessions/session-store.js';
import { printLine } from './cli-io.js';
import { withServices, type CliContext } from './context.js';
import { isoTime, shortTime, toJson } from './display.js';
import { formatTable } from './table.js';
import { noSuchUser } from './user-errors.js';

/** The `--json` shape SPEC §2 fixes for `session list`; `id` is the non-secret handle. */
export interface SessionListEntry {
  id: string;
  user: string;
  createdAt: string;
  lastSeenAt: string;
  ip: string;
  userAgent: string;
}

export function sessionListEntry(session: SessionRecord): SessionListEntry {
  return {
    id: session.handle,
    user: session.userName,
    createdAt: isoTime(session.createdAt) ?? '',
    lastSeenAt: isoTime(session.lastSeenAt) ?? '',
    ip: session.ip,
    userAgent: session.userAgent,
  };
}

/** `gatehouse session list [--user NAME] [--json]`: live sessions, newest first. */
export function addSessionListCommand(session: Command, ctx: CliContext): void {
  session.command('list')
    .description('list live sessions: id, user, created, last seen, IP, user agent')
    .option('--user <name>', "only this user's sessions")
    .option('--json', 'print a JSON array')
    .action(async (options: { user?: string; json?: boolean }) => {
      const sessions = await withServices(ctx, {}, async (services) => {
        if (options.user !== undefined && !(await services.accounts.get(options.user))) throw noSuchUser(options.user);
        return services.sessions.list(options.user === undefined ? {} : { userName: options.user });
      });
      if (options.json) {
        printLine(ctx.io.stdout, toJson(sessions.map(sessionListEntry)));
        return;
      }
      printLine(ctx.io.stdout, formatTable(
        ['ID', 'USER', 'CREATED', 'LAST SEEN', 'IP', 'USER AGENT'],
        sessions.map((s) => [s.handle, s.userName, shortTime(s.createdAt), shortTime(s.lastSeenAt), s.ip, s.userAgent || '-']),
      ));
    });
}
