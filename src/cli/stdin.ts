import type { CliIo } from './cli-io.js';
import { usageError } from './cli-error.js';

/** More than any password or API token needs; a bigger input is a mistake (a file piped by accident). */
const maxInputBytes = 1024 * 1024;

/** Reads stdin to its end and strips ONE trailing newline (`\n` or `\r\n`), as `echo` adds one. */
export async function readStdinValue(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    size += bytes.length;
    if (size > maxInputBytes) throw usageError('standard input holds more than 1 MiB, which cannot be a password or secret');
    chunks.push(bytes);
  }
  return stripOneNewline(Buffer.concat(chunks).toString('utf8'));
}

export function stripOneNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}
