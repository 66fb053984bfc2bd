import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { cachedIsoTime, LineBatches } from './logger.js';

describe('cachedIsoTime', () => {
  it('writes what pino.stdTimeFunctions.isoTime writes, and a new text for every new millisecond', () => {
    let now = Date.UTC(2026, 11, 7, 5, 0, 0, 123);
    const time = cachedIsoTime(() => now);
    const original = Date.now;
    try {
      Date.now = () => now;
      expect(time()).toBe(pino.stdTimeFunctions.isoTime());
      expect(time()).toBe(',"time":"2026-12-07T05:00:00.123Z"');
      now += 1;
      expect(time()).toBe(pino.stdTimeFunctions.isoTime());
      expect(time()).toBe(',"time":"2026-12-07T05:00:00.124Z"');
      now -= 5_000;
      expect(time()).toBe(',"time":"2026-12-07T04:59:55.124Z"');
    } finally {
      Date.now = original;
    }
  });
});

describe('LineBatches (stdout in batches)', () => {
  it('writes gathered lines in one batch once they reach the batch size, after flushMs, or on flush, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-log-'));
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'a');
    try {
      const out = new LineBatches(fd, { batchChars: 100, flushMs: 50 });
      const flushed = (): Promise<void> => new Promise((resolve) => out.flush(() => resolve()));
      out.write('a'.repeat(40) + '\n');
      out.write('b'.repeat(40) + '\n');
      await new Promise((r) => setTimeout(r, 10));
      expect(readFileSync(file, 'utf8')).toBe('');
      out.write('c'.repeat(40) + '\n');
      await poll(() => readFileSync(file, 'utf8').length === 123);
      out.write('d\n');
      await poll(() => readFileSync(file, 'utf8').endsWith('d\n'));
      out.write('e\n');
      await flushed();
      expect(readFileSync(file, 'utf8')).toBe(`${'a'.repeat(40)}\n${'b'.repeat(40)}\n${'c'.repeat(40)}\nd\ne\n`);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the lines still gathered when the process exits (the compiled module: `npm run build` first)', () => {
    const logger = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/log/logger.js')).href;
    const script = `import { LineBatches } from ${JSON.stringify(logger)}; const out = new LineBatches(1, { batchChars: 1 << 20, flushMs: 60_000 }); out.write('one\\n'); out.write('two\\n'); process.exit(0);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('one\ntwo\n');
  });
});

async function poll(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i += 1) await new Promise((r) => setTimeout(r, 10));
  expect(done()).toBe(true);
}
