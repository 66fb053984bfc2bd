const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses "500ms", "15s", "30m", "12h", "7d" into milliseconds; null when it is not such a string. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * durationUnits[match[2]!]!;
}

/** Parses "512b", "64kb", "1mb" (1 kb = 1024 bytes) into bytes; null when it is not such a string. */
export function parseSize(text: string): number | null {
  const match = /^(\d+)(b|kb|mb|gb)$/i.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * sizeUnits[match[2]!.toLowerCase()]!;
}
