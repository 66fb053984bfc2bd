#!/usr/bin/env node
import { runCli } from './run-cli.js';

/** Resolves once everything written so far has been handed to the OS. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

// A reader that goes away (`gatehouse audit | head`) is not worth a stack trace: stop quietly.
// Any other failure to write the output is a failure, still without a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    process.exit(error.code === 'EPIPE' ? 0 : 1);
  });
}

const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(code);
