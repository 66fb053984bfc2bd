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
 * comes first, and then leave in one write (below sonic-boom's 16 KiB `maxWrite`, so one batch is
 * one write). Each write is a hand-off to the thread pool and back; one per line cost the hot path
 * more than formatting the line, one per 4 KiB still ~1 µs a line (docs/performance.md). Whoever
 * stops the process flushes first (`flushLogger`).
 */
export function stdoutDestination(fd = 1): DestinationStream {
  return pino.destination({ fd, sync: false, minLength: 15 * 1024, periodicFlush: 250 });
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
