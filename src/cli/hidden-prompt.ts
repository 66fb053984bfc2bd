import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { CliIo } from './cli-io.js';
import { runtimeError, usageError } from './cli-error.js';

export type Ask = (question: string) => Promise<string>;

/**
 * Asks questions on the terminal without echoing the answers: readline runs the terminal in raw
 * mode and echoes into a muted stream. Prompts go to stderr so stdout stays clean for scripts.
 * One readline interface serves every question, so no typed-ahead line is lost between them.
 */
export async function withHiddenPrompt<T>(io: CliIo, what: string, work: (ask: Ask) => Promise<T>): Promise<T> {
  if (!io.stdin.isTTY) throw usageError(`no terminal to prompt for a ${what}`);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: io.stdin, output: muted, terminal: true, historySize: 0 });
  let cancelled = false;
  rl.on('SIGINT', () => {
    cancelled = true;
    rl.close();
  });
  const lines = rl[Symbol.asyncIterator]();
  const ask: Ask = async (question) => {
    io.stderr.write(question);
    const next = await lines.next();
    io.stderr.write('\n');
    if (next.done) throw runtimeError(cancelled ? `${what} entry was cancelled` : `no ${what} was entered`);
    return next.value;
  };
  try {
    return await work(ask);
  } finally {
    rl.close();
  }
}
