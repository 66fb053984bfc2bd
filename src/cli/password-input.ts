import { passwordProblem } from '../accounts/password.js';
import type { CliIo } from './cli-io.js';
import { usageError } from './cli-error.js';
import { withHiddenPrompt } from './hidden-prompt.js';
import { readStdinValue } from './stdin.js';

/**
 * A new password that meets the policy: from stdin with `--password-stdin`, else typed twice on
 * the terminal. A policy violation or a mismatch is bad usage (exit 2); the password itself never
 * appears in a message.
 */
export async function readNewPassword(io: CliIo, fromStdin: boolean): Promise<string> {
  if (fromStdin) return checked(await readStdinValue(io));
  if (!io.stdin.isTTY) throw usageError('no terminal to prompt for a password; use --password-stdin');
  return withHiddenPrompt(io, 'password', async (ask) => {
    const password = checked(await ask('New password: '));
    if ((await ask('Repeat the new password: ')) !== password) throw usageError('the two passwords do not match');
    return password;
  });
}

function checked(password: string): string {
  const problem = passwordProblem(password);
  if (problem !== null) throw usageError(problem);
  return password;
}
