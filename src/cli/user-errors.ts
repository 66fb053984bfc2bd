import { runtimeError, type CliError } from './cli-error.js';
import { quote } from './display.js';

export function noSuchUser(name: string): CliError {
  return runtimeError(`no user named ${quote(name)}`);
}
