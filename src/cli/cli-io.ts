import type { Readable, Writable } from 'node:stream';

/** The process edges a command may touch, passed in so tests run the CLI in-process. */
export interface CliIo {
  /** `isTTY` and `setRawMode` are there when stdin is a terminal (tty.ReadStream). */
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

export function printLine(stream: Writable, line: string): void {
  stream.write(`${line}\n`);
}
