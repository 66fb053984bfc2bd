import { request } from 'undici';

/** One scrape: each sample by `name{label="value",…}` with the labels sorted, so keys do not depend on output order. */
export type Samples = Map<string, number>;

/** GETs /metrics from an admin listener and parses the Prometheus text format. */
export async function scrape(adminUrl: string): Promise<{ text: string; samples: Samples }> {
  const res = await request(`${adminUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`scrape answered ${res.statusCode}: ${text}`);
  return { text, samples: parseSamples(text) };
}

export function parseSamples(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels = match[2] ? [...match[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort() : [];
    samples.set(labels.length > 0 ? `${match[1]}{${labels.join(',')}}` : match[1]!, Number(match[3]));
  }
  return samples;
}

/**
 * What moved between two scrapes among the samples whose name starts with one of `prefixes`
 * (a sample absent before counts as 0 then).
 */
export function moved(before: Samples, after: Samples, prefixes: readonly string[]): Record<string, number> {
  const delta: Record<string, number> = {};
  const keys = new Set([...before.keys(), ...after.keys()]);
  for (const key of keys) {
    if (!prefixes.some((prefix) => key === prefix || key.startsWith(`${prefix}{`))) continue;
    const change = (after.get(key) ?? 0) - (before.get(key) ?? 0);
    if (change !== 0) delta[key] = Math.round(change * 1e6) / 1e6;
  }
  return delta;
}
