import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../errors/gateway-error.js';

/**
 * Passes a request body through while counting it, and cuts it at `limit` bytes (SPEC §4.4: a body
 * streamed without a length is cut at the limit; the request ends in 413).
 */
export class BodyLimit extends Transform {
  readonly #limit: number;
  #seen = 0;
  exceeded = false;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) {
      this.exceeded = true;
      callback(new GatewayError('payload_too_large'));
      return;
    }
    callback(null, chunk);
  }
}
