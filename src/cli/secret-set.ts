import type { Command } from 'commander';
import { printLine, type CliIo } from './cli-io.js';
import { usageError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';
import { terminalSafe } from './display.js';
import { withHiddenPrompt } from './hidden-prompt.js';
import { readStdinValue } from './stdin.js';

/**
 * The leak guard withholds any upstream response that contains a secret's value. A value this
 * short turns up in ordinary responses by chance, and the guard would break them without
 * protecting anything, so shorter values are refused.
 */
const minSecretBytes = 8;

function checked(value: string): string {
  if (value === '') throw usageError('the secret value is empty; give it on standard input, e.g. printf %s "$TOKEN" | gatehouse secret set NAME');
  if (Buffer.byteLength(value, 'utf8') < minSecretBytes) {
    throw usageError(`the secret value is shorter than ${minSecretBytes} bytes, too short for the leak guard to protect it usefully`);
  }
  return value;
}

/** From piped stdin; on a terminal, typed twice without echo (so it never lands in shell history). */
async function readSecretValue(io: CliIo): Promise<string> {
  if (!io.stdin.isTTY) return checked(await readStdinValue(io));
  return withHiddenPrompt(io, 'secret value', async (ask) => {
    const value = checked(await ask('Secret value: '));
    if ((await ask('Repeat the secret value: ')) !== value) throw usageError('the two values do not match');
    return value;
  });
}

/** `gatehouse secret set NAME`: value from stdin, encrypted at rest; replaces an existing one. */
export function addSecretSetCommand(secret: Command, ctx: CliContext): void {
  secret.command('set')
    .description('store a secret read from standard input, encrypted at rest; replaces an existing one')
    .argument('<name>', 'the name upstream credentials refer to')
    .action(async (name: string) => {
      await withServices(ctx, { createMasterKey: true }, async ({ secrets }) => {
        await secrets.set(name, await readSecretValue(ctx.io), cliActor);
        printLine(ctx.io.stdout, `secret ${terminalSafe(name)} stored`);
      });
    });
}
