/**
 * Request-target normalisation (SPEC §4.4). Routing, `stripPrefix` and the upstream all see the
 * one path this returns, so a path that could mean something else to a more (or less) eager decoder
 * further down is rejected instead of being guessed at.
 *
 * What it does, in order:
 * 1. Accepts origin-form only (RFC 9112 §3.2.1): the target must start with "/". Absolute-form,
 *    authority-form and "*" are rejected. A fragment (never valid in a request target) is dropped.
 * 2. Splits off the query, which is returned verbatim (without "?"); it is only checked for
 *    characters that can never appear in a request target (controls, space, non-ASCII).
 * 3. Percent-decodes ONLY unreserved characters (RFC 3986 §2.3, §6.2.2.2) and upper-cases the hex
 *    of every other escape (RFC 3986 §6.2.2.1), so `%7e`, `%7E` and `~` are one path.
 * 4. Rejects what would still be ambiguous after that:
 *    - an encoded "/" (%2F) or "\" (%5C), and a literal "\" (Windows and some frameworks treat it
 *      as a separator);
 *    - control characters (C0 and DEL), literal or encoded — this includes NUL (%00);
 *    - invalid escapes (`%zz`, a truncated `%4`);
 *    - escapes that decode to invalid UTF-8 (RFC 3629 §3): overlong forms like `%C0%AE` (a "."
 *      to a decoder that does not check, CVE-2000-0884), surrogates, lone continuation bytes;
 *    - double encoding of anything dangerous: `%25` followed by an escape of ".", "/", "\", "%",
 *      a control or a non-ASCII byte (`%252e%252e`, `%252f`, `%2525…`, `%25c0%25ae`), aimed at
 *      upstreams that decode twice;
 *    - a dot segment carrying a matrix parameter (`..;`, `.;`, or with `;` encoded as %3B), which
 *      Tomcat and Spring treat as a dot segment after we have routed on it (the `/..;/` bypass);
 *    - non-ASCII characters sent raw (a request target is ASCII, RFC 9112 §3.2; browsers encode).
 * 5. Collapses runs of "/" and removes dot segments (RFC 3986 §5.2.4); `%2e` has become "." in
 *    step 3, so `/a/%2e%2e/b` is `/a/../b` is `/b`. A path that climbs above the root (`/..`,
 *    `/a/../../b`) is rejected rather than clamped: no honest client sends one.
 *    A trailing "/" is kept (`/a/b/` and `/a/b` are different resources; RFC 3986 §6.2.3).
 *
 * The common case (no "%", no "//", no "/.") is one character scan and no allocation beyond
 * slicing the target.
 */

export type PathRejection =
  | 'not-origin-form'
  | 'bad-character'
  | 'bad-escape'
  | 'encoded-separator'
  | 'control-character'
  | 'invalid-utf8'
  | 'double-encoded'
  | 'dot-segment-parameter'
  | 'encoded-dot-segment'
  | 'above-root';

export type NormalisedTarget = { ok: true; path: string; query: string } | { ok: false; reason: PathRejection };

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;

export function normalisePath(rawTarget: string): NormalisedTarget {
  if (rawTarget.charCodeAt(0) !== SLASH) return reject('not-origin-form');

  let end = rawTarget.indexOf('#');
  if (end === -1) end = rawTarget.length;
  let pathEnd = rawTarget.indexOf('?');
  if (pathEnd === -1 || pathEnd > end) pathEnd = end;

  let needsWork = false;
  let previous = 0;
  for (let i = 0; i < pathEnd; i++) {
    const c = rawTarget.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return reject(c < 0x20 || c === 0x7f ? 'control-character' : 'bad-character');
    if (c === BACKSLASH) return reject('bad-character');
    if (c === PERCENT || (previous === SLASH && (c === SLASH || c === DOT))) needsWork = true;
    previous = c;
  }
  for (let i = pathEnd + 1; i < end; i++) {
    const c = rawTarget.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return reject(c < 0x20 || c === 0x7f ? 'control-character' : 'bad-character');
  }

  const query = pathEnd < end ? rawTarget.slice(pathEnd + 1, end) : '';
  const raw = rawTarget.slice(0, pathEnd);
  if (!needsWork) return { ok: true, path: raw, query };

  if (hasEncodedDotSegment(raw)) return reject('encoded-dot-segment');
  const decoded = decodeUnreserved(raw);
  if (typeof decoded !== 'string') return decoded;
  const path = removeDotSegments(decoded);
  if (typeof path !== 'string') return path;
  return { ok: true, path, query };
}

function reject(reason: PathRejection): { ok: false; reason: PathRejection } {
  return { ok: false, reason };
}

/** Steps 3 and 4 of the header comment, for a path already checked for raw characters. */
function decodeUnreserved(raw: string): string | { ok: false; reason: PathRejection } {
  let out = '';
  // UTF-8 validation of the escaped bytes (RFC 3629 §4): continuation bytes still expected, and
  // the range the next one must fall in (narrower after E0, ED, F0, F4 to exclude overlongs,
  // surrogates and code points above U+10FFFF).
  let pending = 0;
  let low = 0x80;
  let high = 0xbf;
  let i = 0;
  while (i < raw.length) {
    const c = raw.charCodeAt(i);
    if (c !== PERCENT) {
      if (pending > 0) return reject('invalid-utf8');
      out += raw[i];
      i++;
      continue;
    }
    const byte = hexByte(raw, i + 1);
    if (byte < 0) return reject('bad-escape');
    i += 3;
    if (pending > 0) {
      if (byte < low || byte > high) return reject('invalid-utf8');
      pending--;
      low = 0x80;
      high = 0xbf;
      out += escape(byte);
      continue;
    }
    if (byte < 0x80) {
      if (isUnreserved(byte)) out += String.fromCharCode(byte);
      else if (byte === SLASH || byte === BACKSLASH) return reject('encoded-separator');
      else if (byte < 0x20 || byte === 0x7f) return reject('control-character');
      else out += escape(byte);
      continue;
    }
    if (byte >= 0xc2 && byte <= 0xdf) pending = 1;
    else if (byte >= 0xe0 && byte <= 0xef) {
      pending = 2;
      if (byte === 0xe0) low = 0xa0;
      else if (byte === 0xed) high = 0x9f;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      pending = 3;
      if (byte === 0xf0) low = 0x90;
      else if (byte === 0xf4) high = 0x8f;
    } else return reject('invalid-utf8');
    out += escape(byte);
  }
  if (pending > 0) return reject('invalid-utf8');

  for (let at = out.indexOf('%25'); at !== -1; at = out.indexOf('%25', at + 3)) {
    const inner = hexByte(out, at + 3);
    if (inner >= 0 && (inner === DOT || inner === SLASH || inner === BACKSLASH || inner === PERCENT || inner < 0x20 || inner >= 0x7f)) {
      return reject('double-encoded');
    }
  }
  return out;
}

/** RFC 3986 §5.2.4 on a path whose escapes are normalised, plus "//" collapsing; see step 5. */
function removeDotSegments(path: string): string | { ok: false; reason: PathRejection } {
  const segments = path.split('/');
  const kept: string[] = [];
  let trailingSlash = false;
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '' || segment === '.') {
      trailingSlash = last;
      continue;
    }
    if (segment === '..') {
      if (kept.length === 0) return reject('above-root');
      kept.pop();
      trailingSlash = last;
      continue;
    }
    if (segment.charCodeAt(0) === DOT && isDotsWithParameter(segment)) return reject('dot-segment-parameter');
    kept.push(segment);
    trailingSlash = false;
  }
  if (kept.length === 0) return '/';
  return `/${kept.join('/')}${trailingSlash ? '/' : ''}`;
}

/**
 * A dot segment spelled with an escaped dot (`%2e%2e`, `.%2e`, `%2E`): SPEC §4.4 rejects a path
 * that "still contains an encoded ..". Browsers resolve these themselves before sending (WHATWG URL
 * §4.4 treats `%2e` as a dot in path segments), so only a crafted request carries one — and it is
 * aimed at a component that decodes after routing.
 */
function hasEncodedDotSegment(raw: string): boolean {
  if (!/%2e/i.test(raw)) return false;
  return raw.split('/').some((segment) => segment.includes('%') && /^(?:\.|%2e){1,2}(?:$|;|%3b)/i.test(segment));
}

/** `.;x`, `..;x`, `.%3Bx`, `..%3Bx`: a dot segment to stacks that strip matrix parameters. */
function isDotsWithParameter(segment: string): boolean {
  const rest = segment.charCodeAt(1) === DOT ? 2 : 1;
  return segment.startsWith(';', rest) || segment.startsWith('%3B', rest);
}

/** The byte of the two hex digits at `at`, or -1. */
function hexByte(text: string, at: number): number {
  if (at + 1 >= text.length) return -1;
  const high = hexValue(text.charCodeAt(at));
  const low = hexValue(text.charCodeAt(at + 1));
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === DOT || c === 0x5f || c === 0x7e;
}

const hexDigits = '0123456789ABCDEF';

function escape(byte: number): string {
  return `%${hexDigits[byte >> 4]}${hexDigits[byte & 0x0f]}`;
}
