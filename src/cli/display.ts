/**
 * Characters a terminal may act on rather than show: C0/C1 controls and DEL (escape sequences can
 * rewrite the screen or the clipboard), line and paragraph separators, and the bidirectional
 * overrides of "Trojan Source" (CVE-2021-42574). User agents, IPs, names and audit details come
 * from clients, so nothing from the store reaches the terminal without passing through here.
 */
const unsafeCharacters = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, less C0: JSON.stringify escapes those inside strings, and its own newlines must stay. */
const unsafeInJson = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeCharacter(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Text safe to print on a terminal: unsafe characters shown as `\u` and four hex digits. */
export function terminalSafe(text: string): string {
  return text.replace(unsafeCharacters, escapeCharacter);
}

/** A value from the command line or the store, quoted for a sentence: `"bob"`. */
export function quote(text: string): string {
  return `"${terminalSafe(text).replace(/"/g, '\\"')}"`;
}

/** ISO 8601, as the SPEC fixes for every time the CLI prints; null stays null. */
export function isoTime(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** A time for a human table: ISO 8601 to the second, or `-`. */
export function shortTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * `--json` output: one JSON document. JSON.stringify leaves DEL, C1 and the bidi controls as they
 * are; escaping them keeps the same value and a terminal-safe text (they occur only inside strings).
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(unsafeInJson, escapeCharacter);
}
