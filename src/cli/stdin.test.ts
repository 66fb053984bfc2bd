import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readStdinValue, stripOneNewline } from './stdin.js';

describe('stripOneNewline', () => {
  it.each([
    ['value\n', 'value'],
    ['value\r\n', 'value'],
    ['value\n\n', 'value\n'],
    ['value\r', 'value\r'],
    ['value', 'value'],
    ['\n', ''],
    [' value ', ' value '],
  ])('%j → %j', (input, output) => {
    expect(stripOneNewline(input)).toBe(output);
  });
});

describe('readStdinValue', () => {
  const io = (chunks: (string | Buffer)[]) => ({ stdin: Readable.from(chunks), stdout: process.stdout, stderr: process.stderr, env: {} });

  it('joins chunks, even a multi-byte character split between two', async () => {
    const bytes = Buffer.from('pässwörd 🔐\n');
    expect(await readStdinValue(io([bytes.subarray(0, 2), bytes.subarray(2, 13), bytes.subarray(13)]))).toBe('pässwörd 🔐');
  });

  it('refuses more than 1 MiB', async () => {
    await expect(readStdinValue(io([Buffer.alloc(1024 * 1024 + 1, 97)]))).rejects.toThrow(/more than 1 MiB/);
  });
});
