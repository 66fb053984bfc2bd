/**
 * An expected way for a command to fail: `message` is one sentence shown as it is, so it must
 * never hold a password, secret value or key material.
 */
export class CliError extends Error {
  readonly exitCode: 1 | 2;

  constructor(message: string, exitCode: 1 | 2) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Bad usage: the command line or its input cannot work (exit 2). */
export function usageError(message: string): CliError {
  return new CliError(message, 2);
}

/** A well-formed command that could not be carried out (exit 1). */
export function runtimeError(message: string): CliError {
  return new CliError(message, 1);
}
