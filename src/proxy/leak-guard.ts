import { isUtf8 } from 'node:buffer';

/**
 * The streaming leak guard (SPEC §4.4): a response body passes through `push`, and no byte is
 * released that could be the start of a secret whose end has not arrived yet.
 *
 * Each push searches held-back bytes + the new chunk for every pattern, then releases all but the
 * last (longest pattern − 1) bytes. Proof that no fragment escapes: a pattern occurrence ending at
 * stream offset e is complete — and found — as soon as byte e has arrived; before that at most
 * e − (L − 1) ≤ its start bytes have been released, for any pattern of length L ≤ the longest.
 * Once a leak is seen the guard releases nothing more, ever.
 *
 * With `prefixesOnly` (event streams, SPEC §10: relayed event by event) it holds back less: only
 * the longest tail that is a proper prefix of some pattern. Any occurrence not yet complete starts
 * at a position whose tail is such a prefix, so it starts inside what is held and none of its bytes
 * is released; the argument above then applies unchanged. An event ends with a blank line, which
 * begins no secret, so a complete event is released whole at once — never by releasing a held
 * tail on a timer, which could hand out the start of a secret whose end is still on its way.
 *
 * One instance per response; it holds at most (longest pattern − 1) bytes.
 */
export class LeakGuard {
  readonly #patterns: readonly Buffer[];
  readonly #holdBack: number;
  readonly #prefixesOnly: boolean;
  #held: Buffer = empty;
  #leaked = false;
  #ended = false;

  constructor(patterns: readonly Buffer[], options: { prefixesOnly?: boolean } = {}) {
    if (patterns.some((pattern) => pattern.length === 0)) throw new Error('LeakGuard: an empty pattern would match everything');
    this.#patterns = patterns;
    this.#holdBack = patterns.reduce((longest, pattern) => Math.max(longest, pattern.length), 0) - 1;
    this.#prefixesOnly = options.prefixesOnly ?? false;
  }

  /** The bytes that are now safe to deliver, or `leaked: true` (and nothing) once a pattern is seen. */
  push(chunk: Buffer): { safe: Buffer; leaked: boolean } {
    if (this.#ended) throw new Error('LeakGuard: push after end');
    if (this.#leaked) return leakedResult;
    if (this.#holdBack < 0) return { safe: chunk, leaked: false };
    if (chunk.length === 0) return { safe: empty, leaked: false };

    const held = this.#held;
    const data = held.length === 0 ? chunk : Buffer.concat([held, chunk], held.length + chunk.length);
    for (const pattern of this.#patterns) {
      // Occurrences lying wholly inside `held` were searched for on the previous push.
      const from = Math.max(0, held.length - pattern.length + 1);
      if (data.indexOf(pattern, from) !== -1) {
        this.#leaked = true;
        this.#held = empty;
        return leakedResult;
      }
    }
    const release = this.#prefixesOnly ? this.#heldFrom(data) : data.length - this.#holdBack;
    if (release <= 0) {
      this.#held = data === chunk ? Buffer.from(chunk) : data;
      return { safe: empty, leaked: false };
    }
    // Copy the small tail so the (possibly large) chunk it came from is not kept alive.
    this.#held = Buffer.from(data.subarray(release));
    return { safe: data.subarray(0, release), leaked: false };
  }

  /** Where the longest tail of `data` that is a proper prefix of some pattern starts (data.length: none). */
  #heldFrom(data: Buffer): number {
    for (let start = Math.max(0, data.length - this.#holdBack); start < data.length; start++) {
      const first = data[start];
      const tail = data.length - start;
      for (const pattern of this.#patterns) {
        if (pattern.length > tail && pattern[0] === first && data.compare(pattern, 0, tail, start) === 0) return start;
      }
    }
    return data.length;
  }

  /** The held-back tail at the end of the body (already searched), unless a leak was seen. */
  end(): { safe: Buffer; leaked: boolean } {
    this.#ended = true;
    if (this.#leaked) return leakedResult;
    const safe = this.#held;
    this.#held = empty;
    return { safe, leaked: false };
  }

  /** Whether a pattern has been seen; the response must then be withheld or cut. */
  get leaked(): boolean {
    return this.#leaked;
  }
}

const empty: Buffer = Buffer.alloc(0);

/** Whether any pattern occurs in a body that is all there (the forwarder collected it whole). */
export function containsAny(body: Buffer, patterns: readonly Buffer[]): boolean {
  for (const pattern of patterns) if (body.indexOf(pattern) !== -1) return true;
  return false;
}
const leakedResult: { readonly safe: Buffer; readonly leaked: boolean } = Object.freeze({ safe: empty, leaked: true });

/**
 * Whether any pattern appears in a header name or value. Values are searched both as latin-1
 * (how HTTP/1.1 bytes map to JS strings) and as UTF-8 text, so a non-ASCII secret is found however
 * the header was decoded; names, which arrive lower-cased, are compared case-insensitively.
 * The search strings are built once per credential, not per response.
 */
export class HeaderLeakCheck {
  readonly #needles: readonly string[];
  readonly #lowerNeedles: readonly string[];

  constructor(patterns: readonly Buffer[]) {
    const needles: string[] = [];
    for (const pattern of patterns) {
      if (pattern.length === 0) continue;
      needles.push(pattern.toString('latin1'));
      if (!isUtf8(pattern)) continue;
      const text = pattern.toString('utf8');
      if (text !== needles[needles.length - 1]) needles.push(text);
    }
    this.#needles = needles;
    this.#lowerNeedles = needles.map((needle) => needle.toLowerCase());
  }

  leaks(headers: Readonly<Record<string, string | readonly string[] | number | undefined>>): boolean {
    const needles = this.#needles;
    if (needles.length === 0) return false;
    for (const name in headers) {
      const lowerName = name.toLowerCase();
      for (const needle of this.#lowerNeedles) if (lowerName.includes(needle)) return true;
      const value = headers[name];
      if (value === undefined) continue;
      const values = typeof value === 'object' ? value : [String(value)];
      for (const item of values) {
        for (const needle of needles) if (item.includes(needle)) return true;
      }
    }
    return false;
  }
}

/** One-off form of HeaderLeakCheck. */
export function headersLeak(headers: Readonly<Record<string, string | readonly string[] | number | undefined>>, patterns: readonly Buffer[]): boolean {
  return new HeaderLeakCheck(patterns).leaks(headers);
}
