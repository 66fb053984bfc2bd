import type { Command } from 'commander';
import type { UserRecord } from '../accounts/user-store.js';
import { printLine } from './cli-io.js';
import { withServices, type CliContext } from './context.js';
import { isoTime, shortTime, toJson } from './display.js';
import { formatTable } from './table.js';

/** The `--json` shape SPEC §2 fixes for `user list`. */
export interface UserListEntry {
  name: string;
  roles: string[];
  locked: boolean;
  mfa: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

export function userListEntry(user: UserRecord): UserListEntry {
  return {
    name: user.name,
    roles: [...user.roles],
    locked: user.locked,
    mfa: user.mfaEnabled,
    createdAt: isoTime(user.createdAt) ?? '',
    lastLoginAt: isoTime(user.lastLoginAt),
  };
}

const yesNo = (flag: boolean): string => (flag ? 'yes' : 'no');

/** `gatehouse user list [--json]` */
export function addUserListCommand(user: Command, ctx: CliContext): void {
  user.command('list')
    .description('list users: name, roles, locked, MFA, created, last login')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const users = await withServices(ctx, {}, async ({ accounts }) => accounts.list());
      if (options.json) {
        printLine(ctx.io.stdout, toJson(users.map(userListEntry)));
        return;
      }
      printLine(ctx.io.stdout, formatTable(
        ['NAME', 'ROLES', 'LOCKED', 'MFA', 'CREATED', 'LAST LOGIN'],
        users.map((u) => [u.name, u.roles.join(',') || '-', yesNo(u.locked), yesNo(u.mfaEnabled), shortTime(u.createdAt), shortTime(u.lastLoginAt)]),
      ));
    });
}
