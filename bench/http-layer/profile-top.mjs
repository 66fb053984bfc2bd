/**
 * Self time per function in a V8 .cpuprofile (what `node --cpu-prof` writes), heaviest first.
 * Usage: node bench/http-layer/profile-top.mjs FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

/** @returns {{ name: string, where: string, ms: number, share: number }[]} share is of non-idle time */
export function topSelfTime(profile, limit = 15) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totals = new Map();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    const name = frame.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    busyUs += us;
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const entry = totals.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    totals.set(key, entry);
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({ name: e.name, where: e.where, ms: Math.round(e.us / 100) / 10, share: e.us / busyUs }));
}

function shortUrl(url) {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules !== -1) return path.slice(inModules + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

export function formatTop(rows) {
  const lines = ['| # | self | share of busy | function | where |', '|---:|---:|---:|---|---|'];
  rows.forEach((row, i) => lines.push(`| ${i + 1} | ${row.ms} ms | ${(row.share * 100).toFixed(1)} % | ${row.name} | ${row.where} |`));
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/http-layer/profile-top.mjs FILE.cpuprofile [N]');
    process.exit(2);
  }
  console.log(formatTop(topSelfTime(JSON.parse(readFileSync(file, 'utf8')), Number(n ?? 15))));
}
