/**
 * Self time per function in a V8 .cpuprofile (what `node --cpu-prof` writes), heaviest first.
 * Usage: node bench/http-layer/profile-top.mjs FILE.cpuprofile [N] [URL-PART]
 * With URL-PART (e.g. /dist/src/), also the inclusive time of the functions from those scripts;
 * then the self time by component (selfTimeByComponent).
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

/**
 * Inclusive ("total") time per function whose script URL contains `urlPart`: every sample whose
 * stack passes through the function counts once. Only synchronous stretches are seen: time an
 * async function spends awaiting is not in any stack.
 * @returns {{ name: string, where: string, ms: number, share: number }[]} share is of non-idle time
 */
export function topTotalTime(profile, urlPart, limit = 15) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totals = new Map();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    if (byId.get(id).callFrame.functionName === '(idle)') continue;
    busyUs += us;
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at).callFrame;
      if (!frame.url.includes(urlPart)) continue;
      const where = `${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
      const key = `${frame.functionName || '(anonymous)'} ${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = totals.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 };
      entry.us += us;
      totals.set(key, entry);
    }
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({ name: e.name, where: e.where, ms: Math.round(e.us / 100) / 10, share: e.us / busyUs }));
}

/**
 * Self time summed by component (where the function lives), to compare two profiles of different
 * servers or builds: socket writes, SQLite (the store adapters' native statement calls), undici,
 * pino, Gatehouse's own code (`/dist/src/`), Node's http and streams, the garbage collector, other.
 * @returns {{ component: string, share: number }[]} shares of non-idle time, largest first
 */
export function selfTimeByComponent(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const sums = new Map();
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i]).callFrame;
    if (frame.functionName === '(idle)') continue;
    const us = profile.timeDeltas[i] ?? 0;
    busyUs += us;
    const component = componentOf(frame);
    sums.set(component, (sums.get(component) ?? 0) + us);
  }
  return [...sums].map(([component, us]) => ({ component, share: us / busyUs })).sort((a, b) => b.share - a.share);
}

function componentOf({ functionName, url }) {
  if (functionName === 'writev' || functionName === 'writeLatin1String' || functionName === 'writeUtf8String' || functionName === 'writeBuffer') return 'socket writes (syscalls)';
  if (url.includes('/storage/sqlite/')) return 'SQLite (store adapters, native)';
  if (url.includes('/undici/')) return 'undici';
  if (url.includes('pino') || url.includes('/sonic-boom/') || functionName === 'writeString') return 'pino (access log)';
  if (url.includes('/dist/src/') || url.includes('/bench/')) return 'Gatehouse / bench server code';
  if (url.startsWith('node:_http') || url.includes('node:internal/http')) return 'node:http';
  if (url.includes('node:internal/streams') || url.includes('stream_base_commons')) return 'node streams';
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (url.startsWith('node:')) return 'other Node.js';
  return 'other (native, wasm llhttp, program)';
}

export function formatComponents(rows) {
  const lines = ['| component | share of busy |', '|---|---:|'];
  for (const row of rows) lines.push(`| ${row.component} | ${(row.share * 100).toFixed(1)} % |`);
  return lines.join('\n');
}

function shortUrl(url) {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules !== -1) return path.slice(inModules + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

export function formatTop(rows, column = 'self') {
  const lines = [`| # | ${column} | share of busy | function | where |`, '|---:|---:|---:|---|---|'];
  rows.forEach((row, i) => lines.push(`| ${i + 1} | ${row.ms} ms | ${(row.share * 100).toFixed(1)} % | ${row.name} | ${row.where} |`));
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, n, urlPart] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/http-layer/profile-top.mjs FILE.cpuprofile [N]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  console.log(formatTop(topSelfTime(profile, Number(n ?? 15))));
  if (urlPart) console.log(`\n${formatTop(topTotalTime(profile, urlPart, Number(n ?? 15)), 'total')}`);
  console.log(`\n${formatComponents(selfTimeByComponent(profile))}`);
}
