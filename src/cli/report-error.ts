import { CommanderError } from 'commander';
import { ConfigError, formatProblem } from '../config/load.js';
import { MasterKeyError } from '../secrets/keyring.js';
import { SecretError } from '../secrets/secret-service.js';
import { AccountError } from '../accounts/account-service.js';
import { SchemaTooNewError } from '../storage/schema-too-new-error.js';
import { StoreUnavailableError } from '../storage/store-unavailable-error.js';
import { printLine, type CliIo } from './cli-io.js';
import { CliError } from './cli-error.js';
import { terminalSafe } from './display.js';

/**
 * Codes whose messages name only a file, an errno or a database condition, never data: for an
 * unexpected error, the message is shown only when its code is one of these.
 */
const safeCodes = /^(E(ACCES|PERM|NOENT|ISDIR|NOTDIR|NOSPC|ROFS|BUSY|MFILE)|SQLITE_(BUSY|LOCKED|CANTOPEN|READONLY|CORRUPT|NOTADB|FULL|IOERR|PERM|PROTOCOL)\w*)$/;

function hasSafeCode(error: unknown): error is Error {
  const code: unknown = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && safeCodes.test(code);
}

/** Writes what went wrong to stderr (never a stack trace) and returns the exit code. */
export function reportError(error: unknown, io: CliIo): number {
  // Commander has already written its message (or the help) through configureOutput.
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof ConfigError) {
    for (const problem of error.problems) printLine(io.stderr, terminalSafe(formatProblem(problem)));
    return 2;
  }
  if (error instanceof CliError) {
    printLine(io.stderr, `error: ${error.message}`);
    return error.exitCode;
  }
  // Refusals of what was typed (a weak password, a malformed name): bad usage. Their messages
  // never hold the password or value.
  if (error instanceof AccountError || error instanceof SecretError) {
    printLine(io.stderr, `error: ${terminalSafe(error.message)}`);
    return 2;
  }
  // One sentence, nothing changed: a master key that does not fit, a store newer than this
  // Gatehouse (naming both versions), a store that does not answer (SPEC §8).
  if (error instanceof MasterKeyError || error instanceof SchemaTooNewError || error instanceof StoreUnavailableError) {
    printLine(io.stderr, `error: ${terminalSafe(error.message)}`);
    return 1;
  }
  const cause = hasSafeCode(error) ? `: ${terminalSafe(error.message)}` : '';
  printLine(io.stderr, `error: the command failed unexpectedly${cause}`);
  return 1;
}
