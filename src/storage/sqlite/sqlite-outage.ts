import { StoreUnavailableError } from '../store-unavailable-error.js';

/**
 * The file cannot answer now (another process held its write lock past busy_timeout, a full or
 * failing disk), as opposed to a statement that is wrong. https://www.sqlite.org/rescode.html
 */
const outage = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM)/;

/**
 * Runs `work` against the file; an outage becomes StoreUnavailableError, which callers answer
 * with 503 (single-flight leases, WebSocket slots), while a wrong statement still throws as itself.
 */
export function answeringOrUnavailable<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && outage.test(code)) throw new StoreUnavailableError(code, { cause: error });
    throw error;
  }
}
