import { errorCodes, type ErrorCode } from './codes.js';

/**
 * An outcome that ends a request with a registered error code. Messages come from the registry
 * unless a caller gives a more precise one; they never contain secrets, cookies or tokens.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  /**
   * `status` overrides the registry's only where SPEC gives one code two statuses (mfa_required:
   * 401 while the second factor is due, 403 for step-up on a route).
   */
  constructor(code: ErrorCode, options: { message?: string; headers?: Record<string, string>; cause?: unknown; status?: 403 } = {}) {
    super(options.message ?? errorCodes[code].message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? errorCodes[code].status;
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The JSON body of an error response, as SPEC §4 fixes it. */
export function errorBody(code: ErrorCode, message: string = errorCodes[code].message): string {
  return JSON.stringify({ error: { code, message } });
}
