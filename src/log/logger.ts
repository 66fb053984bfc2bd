import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino censors, compiled once at logger creation. Gatehouse never logs headers or bodies in
 * the first place; this is the second line of defence should a later change try to.
 */
export const redactPaths = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  'password',
  'currentPassword',
  'newPassword',
  'secret',
  'value',
  'token',
  'cookie',
  '*.password',
  '*.secret',
  '*.token',
  '*.cookie',
];

/**
 * stdout, written asynchronously and in batches: lines collect until 15 KiB or 250 ms, whichever
 * comes first, and then leave in one write. Each write is a hand-off to the thread pool and back;
 * one per line cost the hot path more than formatting the line, one per 4 KiB still ~1 µs a line
 * (docs/performance.md). The lines are gathered here (`LineBatches`), not in sonic-boom's own
 * buffer, which measures its whole pending buffer again for every line (Buffer.byteLength of up to
 * `minLength` bytes). Whoever stops the process flushes first (`flushLogger`); lines still gathered
 * when the process exits are written synchronously.
 */
export function stdoutDestination(fd = 1): DestinationStream {
  return new LineBatches(fd, { batchChars: 15 * 1024, flushMs: 250 });
}

/** Lines joined into one string per batch before they reach sonic-boom (pino.destination) on `fd`. */
export class LineBatches implements DestinationStream {
  readonly #out: ReturnType<typeof pino.destination>;
  readonly #batchChars: number;
  readonly #flushMs: number;
  #lines: string[] = [];
  #chars = 0;
  #timer: NodeJS.Timeout | null = null;
  /** A batch handed to sonic-boom is not written yet (it says 'drain' when all are). */
  #writing = false;
  #onWritten: ((error?: Error) => void)[] = [];

  constructor(fd: number, options: { batchChars: number; flushMs: number }) {
    this.#out = pino.destination({ fd, sync: false, minLength: 0 });
    this.#batchChars = options.batchChars;
    this.#flushMs = options.flushMs;
    this.#out.on('drain', () => this.#written());
    // No event loop any more: what sonic-boom holds, then what is gathered here, written now.
    process.once('exit', () => {
      const text = this.#take();
      try {
        this.#out.flushSync();
      } catch {
        // destroyed, or not writable any more: nothing else to do at exit
      }
      if (text !== '') writeSync(fd, text);
    });
  }

  write(line: string): void {
    this.#lines.push(line);
    this.#chars += line.length;
    if (this.#chars >= this.#batchChars) this.#drain();
    else this.#timer ??= setTimeout(() => this.#drain(), this.#flushMs).unref();
  }

  /**
   * Hands the gathered lines on, then calls back once everything is written (pino's
   * `logger.flush`; sonic-boom's own flush does not wait with `minLength: 0`).
   */
  flush(cb?: (error?: Error) => void): void {
    this.#drain();
    if (!cb) return;
    if (!this.#writing) {
      cb();
      return;
    }
    // Listened to only while someone waits, as sonic-boom's own flush does: otherwise a write
    // error is what it was before, pino's to report.
    if (this.#onWritten.length === 0) this.#out.once('error', this.#failed);
    this.#onWritten.push(cb);
  }

  readonly #failed = (error: Error): void => this.#written(error);

  #drain(): void {
    const text = this.#take();
    if (text === '') return;
    this.#writing = true;
    this.#out.write(text);
  }

  #written(error?: Error): void {
    this.#writing = false;
    this.#out.off('error', this.#failed);
    const waiting = this.#onWritten;
    this.#onWritten = [];
    for (const cb of waiting) cb(error);
  }

  #take(): string {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#lines.length === 0) return '';
    const text = this.#lines.join('');
    this.#lines = [];
    this.#chars = 0;
    return text;
  }
}

/**
 * pino's `isoTime`, formatted once per millisecond: `new Date().toISOString()` on every line was
 * ~0.5 µs of a proxied request, and a busy gateway writes many lines in the same millisecond.
 * The same text as `isoTime`.
 */
export function cachedIsoTime(now: () => number = Date.now): () => string {
  let last = Number.NaN;
  let text = '';
  return () => {
    const ms = now();
    if (ms !== last) {
      last = ms;
      text = `,"time":"${new Date(ms).toISOString()}"`;
    }
    return text;
  };
}

export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; stdout by default. Tests pass a stream they can read. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'gatehouse' },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: cachedIsoTime(),
    },
    options.destination ?? stdoutDestination(),
  );
}

/**
 * The access log: one line per request, built by `logAccess` from fields Gatehouse chose (ids,
 * method, the path without its query, status, time, address, user name, endpoint id) — never
 * headers, bodies or a query string. Redaction, which walks every path for every line (two thirds
 * of a line's cost), is therefore left to the logger that logs anything else.
 */
export function accessLogger(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/** Resolves once every line logged so far has been written (before the process exits). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.flush(() => resolve());
  });
}

/** A logger that writes nothing: for CLI commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
